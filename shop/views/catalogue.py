"""Storefront pages. Thin: each reads through shop.selectors and renders."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shop import selectors
from shop.forms import CheckoutForm


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "shop/home.html",
        {"categories": selectors.category_list(), "featured": selectors.featured_product_list()},
    )


def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    category = selectors.category_get(slug=slug)
    page, cards = selectors.category_product_page(
        category=category, page_number=request.GET.get("page")
    )
    return render(
        request, "shop/category.html", {"category": category, "page": page, "cards": cards}
    )


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    card = selectors.product_get(slug=slug)
    form = CheckoutForm(product=card.product, initial={"quantity": card.product.min_per_order})
    return render(request, "shop/product.html", {"card": card, "form": form})


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    page, cards = (
        selectors.product_search(query=query, page_number=request.GET.get("page"))
        if query.strip()
        else (None, [])
    )
    return render(request, "shop/search.html", {"query": query, "page": page, "cards": cards})
