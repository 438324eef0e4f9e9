"""What a channel listing may say: the role of the id, and the parent a variation is addressed under. Pure."""

from __future__ import annotations

import re

from stockpilot.domain.errors import ValidationFailed

VARIATION = "variation"  # a WooCommerce variation: pushed to /products/{parent}/variations/{id}
_ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_POST_ID = re.compile(r"[1-9][0-9]{0,19}")  # WooCommerce ids are WordPress post ids


def check_listing(external_id: str, role: str | None, parent: str | None) -> None:
    """Refuse, with the reason, a listing a push could not address: a bad role, a variation without its parent
    product, a parent on anything but a variation."""
    if role is not None and not _ROLE.fullmatch(role):
        raise ValidationFailed(f"role must be 1-32 of a-z, 0-9 and '_', got {role!r}")
    if role != VARIATION:
        if parent is not None:
            raise ValidationFailed(f"only a variation has a parent product (role {role or 'none'!r} given with "
                                   f"parent {parent!r})")
        return
    if parent is None:
        raise ValidationFailed(f"variation {external_id} needs its parent product's id (WooCommerce addresses it "
                               f"as /products/PARENT/variations/{external_id}): --parent PARENT_ID, or "
                               "parent_external_id over HTTP")
    for name, value in (("a variation's id", external_id), ("its parent product's id", parent)):
        if not is_post_id(value):
            raise ValidationFailed(f"{name} must be a WooCommerce id (a whole number), got {value!r}")
    if parent == external_id:
        raise ValidationFailed(f"variation {external_id} cannot be its own parent")


def check_listing_on(kind: str | None, external_id: str, role: str | None) -> None:
    """What the store's platform requires of the id: on WooCommerce a product is a WordPress post id too (a
    listing such as `tee-shirt` could never be pushed: the REST API addresses products by number)."""
    if kind == "woocommerce" and role == "product" and not is_post_id(external_id):
        raise ValidationFailed(f"a WooCommerce product's id must be a whole number, got {external_id!r}")


def is_post_id(value: str) -> bool:
    """A WooCommerce product or variation id: a WordPress post id, a positive whole number."""
    return _POST_ID.fullmatch(value) is not None
