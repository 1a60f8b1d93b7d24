"""index source_record.changed_run_id

A nightly run asks which records changed since the last good run; without the
index that question reads every record's JSON columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_record_changed_run_id'), ['changed_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_record_changed_run_id'))
