"""The reseller API (Django REST framework) under /api/v1/; see docs/api.md."""
