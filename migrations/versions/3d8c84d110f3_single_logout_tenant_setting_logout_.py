"""single logout: tenant setting, logout requests, logout traces

Revision ID: 3d8c84d110f3
Revises: dd09b2076c42
Create Date: 2026-11-30 08:30:16.378962

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3d8c84d110f3"
down_revision = "dd09b2076c42"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("login_trace", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), server_default="login", nullable=False))

    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), server_default="authn", nullable=False))

    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("single_logout", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("single_logout")

    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.drop_column("kind")

    with op.batch_alter_table("login_trace", schema=None) as batch_op:
        batch_op.drop_column("kind")
