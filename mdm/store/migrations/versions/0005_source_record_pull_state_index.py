"""index source_record (source_system_id, source_id, raw_hash, deleted_at)

A pull starts by reading, for every record of the source, its id, source id,
raw hash and whether it is deleted. In SQLite the raw hash and deletion time
are stored after the large JSON columns, so without a covering index that
read walks every record's overflow pages (the whole table); with it the read
is answered from the index alone (the row id is part of every SQLite index).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.create_index('ix_source_record_pull_state',
                              ['source_system_id', 'source_id', 'raw_hash', 'deleted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_index('ix_source_record_pull_state')
