"""Seed the headshot styles the app offers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

MODEL = "seedream-5-lite"
KEEP_FACE = (
    "Keep the person's identity, face shape, skin tone and expression exactly as in the photo. "
)

STYLES = [
    {
        "id": "corporate",
        "name": "Corporate",
        "description": "Navy suit, neutral grey studio backdrop, soft key light: for LinkedIn "
        "and company pages.",
        "prompt": KEEP_FACE + "Professional corporate headshot, tailored navy suit, crisp shirt, "
        "neutral grey studio backdrop, soft key light with gentle fill, sharp focus on the eyes, "
        "85mm lens, photorealistic.",
        "credit_cost": 1,
        "sort_order": 10,
    },
    {
        "id": "creative",
        "name": "Creative",
        "description": "Relaxed smart-casual look against a warm, colourful backdrop.",
        "prompt": KEEP_FACE + "Creative professional headshot, smart casual outfit, warm "
        "colourful textured backdrop, natural window light, shallow depth of field, "
        "photorealistic, editorial feel.",
        "credit_cost": 1,
        "sort_order": 20,
    },
    {
        "id": "model",
        "name": "Model",
        "description": "Fashion-portfolio portrait with dramatic studio lighting.",
        "prompt": KEEP_FACE + "High-fashion model portfolio portrait, dramatic studio lighting "
        "with rim light, seamless dark backdrop, magazine-cover quality retouching, "
        "photorealistic.",
        "credit_cost": 2,
        "sort_order": 30,
    },
    {
        "id": "casual",
        "name": "Casual",
        "description": "Friendly outdoor portrait in soft daylight.",
        "prompt": KEEP_FACE + "Friendly casual headshot outdoors, soft golden-hour daylight, "
        "blurred green park background, light knit sweater, photorealistic.",
        "credit_cost": 1,
        "sort_order": 40,
    },
]


def upgrade() -> None:
    styles = sa.table(
        "styles",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("prompt", sa.Text),
        sa.column("model", sa.String),
        sa.column("credit_cost", sa.Integer),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(styles, [{**style, "model": MODEL} for style in STYLES])


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM styles WHERE id = ANY(:ids)").bindparams(
            ids=[style["id"] for style in STYLES]
        )
    )
