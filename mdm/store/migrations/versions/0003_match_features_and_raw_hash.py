"""match features and raw hash

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('match_feature',
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('features', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('hetu_any', sa.String(length=20), nullable=True),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.Column('first_given', sa.String(length=100), nullable=True),
    sa.Column('surname', sa.String(length=200), nullable=True),
    sa.Column('phone_block', sa.String(length=32), nullable=True),
    sa.Column('email_block', sa.String(length=320), nullable=True),
    sa.Column('other_id', sa.String(length=100), nullable=True),
    sa.Column('postcode', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], name=op.f('fk_match_feature_source_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_record_id', name=op.f('pk_match_feature'))
    )
    with op.batch_alter_table('match_feature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_feature_birth_date'), ['birth_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_feature_email_block'), ['email_block'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_feature_hetu_any'), ['hetu_any'], unique=False)
        batch_op.create_index('ix_match_feature_names', ['first_given', 'surname'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_feature_other_id'), ['other_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_feature_phone_block'), ['phone_block'], unique=False)
        batch_op.create_index('ix_match_feature_postcode_surname', ['postcode', 'surname'], unique=False)

    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_hash', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_column('raw_hash')

    with op.batch_alter_table('match_feature', schema=None) as batch_op:
        batch_op.drop_index('ix_match_feature_postcode_surname')
        batch_op.drop_index(batch_op.f('ix_match_feature_phone_block'))
        batch_op.drop_index(batch_op.f('ix_match_feature_other_id'))
        batch_op.drop_index('ix_match_feature_names')
        batch_op.drop_index(batch_op.f('ix_match_feature_hetu_any'))
        batch_op.drop_index(batch_op.f('ix_match_feature_email_block'))
        batch_op.drop_index(batch_op.f('ix_match_feature_birth_date'))

    op.drop_table('match_feature')
