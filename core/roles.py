"""Staff roles: one auth group per role, holding exactly the permissions listed here.

This table is the only place roles are defined. ``roles_apply`` makes each group
hold exactly the listed permissions that exist: the data migration
``core.0004_staff_roles`` runs it once, ``manage.py staff_roles_sync`` runs it
again after later apps add their models (and their permissions), and it reports
what the table names but the database does not have yet. Permissions given to
these groups by hand are taken away by the next sync: give a person extra rights
through another group.

Names are ``app_label.codename``, strings only, so core imports no higher app.
Some name permissions that apps will add later; each is marked "(to come)".
"""

from dataclasses import dataclass

from django.apps import apps as global_apps

_ORDERS_READ = ["shop.view_order", "shop.view_orderline", "shop.view_orderevent"]
_ALERTS = ["core.view_staffalert", "core.change_staffalert"]

ROLES: dict[str, list[str]] = {
    # Answers buyers: reads orders, handles complaints, resends delivery emails.
    "Support agent": [
        *_ORDERS_READ,
        "shop.view_payment",
        "shop.resend_order_email",  # (to come) the resend action on an order
        "compliance.view_complaint",
        "compliance.add_complaint",
        "compliance.change_complaint",
        "compliance.view_complaintmessage",
        "compliance.add_complaintmessage",
        "compliance.download_complaintevidence",
        "core.view_staffalert",
    ],
    # Vets suppliers and releases or suspends their batches; screening and blocklist.
    "Compliance officer": [
        "fulfillment.view_supplier",
        "fulfillment.add_supplier",
        "fulfillment.change_supplier",
        "fulfillment.view_batch",
        "fulfillment.change_batch",  # the release and suspend actions
        "fulfillment.view_batchevent",
        "fulfillment.view_batchrejection",
        "compliance.view_suppliervetting",
        "compliance.add_suppliervetting",
        "compliance.change_suppliervetting",
        "compliance.vet_supplier",
        "compliance.view_suppliervettingevent",
        "compliance.view_supplierdocument",
        "compliance.add_supplierdocument",
        "compliance.download_supplierdocument",
        "compliance.view_batchprovenance",
        "compliance.change_batchprovenance",
        "compliance.approve_batch",
        "compliance.export_provenance",
        "compliance.view_batchcheck",
        "compliance.view_revocationlist",
        "compliance.add_revocationlist",
        "compliance.view_revocationcase",
        "compliance.change_revocationcase",
        "compliance.view_revocationcaseevent",
        # Defective codes claimed back from suppliers: record the supplier's answer.
        "compliance.view_supplierclaim",
        "compliance.resolve_supplierclaim",
        "compliance.view_supplierclaimevent",
        # Screening: the rules, the blocklist, and orders held for review.
        "compliance.view_screeningrule",
        "compliance.add_screeningrule",
        "compliance.change_screeningrule",
        "compliance.view_screeningdecision",
        "compliance.view_blocklistentry",
        "compliance.add_blocklistentry",
        "compliance.change_blocklistentry",
        "compliance.delete_blocklistentry",
        "compliance.view_orderreview",
        "compliance.change_orderreview",
        "compliance.review_order",
        "compliance.view_orderreviewevent",
        "shop.view_reseller",
        "shop.vet_reseller",
        *_ORDERS_READ,
        "core.view_auditentry",
        *_ALERTS,
    ],
    # Imports code files and keeps code formats and stock thresholds; releases nothing.
    "Inventory manager": [
        "fulfillment.view_supplier",
        "fulfillment.view_batch",
        "fulfillment.add_batch",  # the upload form
        "fulfillment.view_batchevent",
        "fulfillment.view_batchrejection",
        "fulfillment.view_coderule",
        "fulfillment.add_coderule",
        "fulfillment.change_coderule",
        "fulfillment.view_stocklevel",
        "fulfillment.change_stocklevel",  # the low-stock threshold
        # The importer records where a batch came from; a compliance officer approves it.
        "compliance.view_batchprovenance",
        "compliance.add_batchprovenance",
        "compliance.change_batchprovenance",
        "shop.view_product",
        *_ALERTS,
    ],
    # Money after the sale: refunds and disputes, with the payments behind them.
    "Finance": [
        *_ORDERS_READ,
        "shop.view_payment",
        "shop.view_stripeevent",
        "shop.view_reseller",
        "shop.adjust_reseller_balance",
        "compliance.view_refund",
        "compliance.add_refund",
        "compliance.change_refund",  # the second-approval action
        "compliance.view_refundevent",
        "compliance.view_dispute",
        "compliance.change_dispute",
    ],
    # Staff accounts and their second factors, the catalogue, and reading the rest.
    "Administrator": [
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "otp_totp.view_totpdevice",
        "otp_totp.add_totpdevice",
        "otp_totp.change_totpdevice",
        "otp_totp.delete_totpdevice",
        "otp_static.view_staticdevice",
        "otp_static.add_staticdevice",
        "otp_static.change_staticdevice",
        "otp_static.delete_staticdevice",
        "otp_static.view_statictoken",
        "otp_static.add_statictoken",
        "otp_static.delete_statictoken",
        "shop.view_category",
        "shop.add_category",
        "shop.change_category",
        "shop.view_product",
        "shop.add_product",
        "shop.change_product",
        *_ORDERS_READ,
        "shop.view_payment",
        "fulfillment.view_supplier",
        "fulfillment.view_batch",
        "fulfillment.view_stocklevel",
        "core.view_auditentry",
        *_ALERTS,
    ],
}


@dataclass(frozen=True)
class RoleSync:
    role: str
    granted: int
    missing: list[str]


def roles_apply(*, apps=global_apps) -> list[RoleSync]:
    """Give each role's group exactly the table's permissions that exist.

    Idempotent. ``apps`` is the migration's historical registry when a migration
    calls it. Returns, per role, how many permissions it holds and which of the
    table's names do not exist (yet).
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    wanted = {name for names in ROLES.values() for name in names}
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.filter(
            codename__in={name.split(".", 1)[1] for name in wanted}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    results = []
    for role, names in ROLES.items():
        group, _created = group_model.objects.get_or_create(name=role)
        granted = sorted({existing[name] for name in names if name in existing})
        group.permissions.set(granted)
        missing = sorted({name for name in names if name not in existing})
        results.append(RoleSync(role=role, granted=len(granted), missing=missing))
    return results


def roles_apply_in_migration(apps) -> list[RoleSync]:
    """``roles_apply`` from a data migration, with the permissions it needs created first.

    Django creates permissions only after every migration has run, so a migration
    that grants new ones (a new model's) creates them for the apps migrated so far.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips app configs without a models module, which the
        # migration's historical app configs never have.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    return roles_apply(apps=apps)
