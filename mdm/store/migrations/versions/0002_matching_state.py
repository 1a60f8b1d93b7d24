"""matching state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identifier_set', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    op.create_table('matching_model',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settings_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_matching_model'))
    )
    op.create_table('match_edge',
    sa.Column('left_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('right_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('match_weight', sa.Double(), nullable=False),
    sa.Column('match_probability', sa.Double(), nullable=False),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('left_record_id < right_record_id', name=op.f('ck_match_edge_ordered_pair')),
    sa.ForeignKeyConstraint(['left_record_id'], ['source_record.id'], name=op.f('fk_match_edge_left_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_record_id'], ['source_record.id'], name=op.f('fk_match_edge_right_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_match_edge_run_id_reconciliation_run')),
    sa.PrimaryKeyConstraint('left_record_id', 'right_record_id', name=op.f('pk_match_edge'))
    )
    with op.batch_alter_table('match_edge', schema=None) as batch_op:
        batch_op.create_index('ix_match_edge_right_record_id', ['right_record_id'], unique=False)

    op.create_table('match_state',
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('feature_hash', sa.String(length=32), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], name=op.f('fk_match_state_source_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_record_id', name=op.f('pk_match_state'))
    )


def downgrade() -> None:
    op.drop_table('match_state')
    with op.batch_alter_table('match_edge', schema=None) as batch_op:
        batch_op.drop_index('ix_match_edge_right_record_id')

    op.drop_table('match_edge')
    op.drop_table('matching_model')
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.drop_column('identifier_set')
