"""group policy: mapping rules and tenant sync settings

Revision ID: 0da1d45aff72
Revises: 2b78f9a282d3
Create Date: 2026-11-30 07:35:18.149907

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0da1d45aff72"
down_revision = "2b78f9a282d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mapping_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=255), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "match IN ('equals', 'iequals', 'contains', 'regex')", name=op.f("ck_mapping_rule_match_kind")
        ),
        sa.ForeignKeyConstraint(["group_id"], ["user_group.id"], name=op.f("fk_mapping_rule_group_id_user_group")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_mapping_rule_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping_rule")),
    )
    with op.batch_alter_table("mapping_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mapping_rule_group_id"), ["group_id"], unique=False)
        batch_op.create_index("ix_mapping_rule_tenant_id_priority", ["tenant_id", "priority", "id"], unique=False)

    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role_attributes", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("group_sync", sa.String(length=16), server_default="never", nullable=False))
        batch_op.add_column(sa.Column("on_no_match", sa.String(length=16), server_default="default", nullable=False))


def downgrade():
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("on_no_match")
        batch_op.drop_column("group_sync")
        batch_op.drop_column("role_attributes")

    with op.batch_alter_table("mapping_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_mapping_rule_tenant_id_priority")
        batch_op.drop_index(batch_op.f("ix_mapping_rule_group_id"))

    op.drop_table("mapping_rule")
