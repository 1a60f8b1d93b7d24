"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_name', sa.String(length=100), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=True),
    sa.Column('endpoint', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('identifier_type', sa.String(length=30), nullable=True),
    sa.Column('identifier_digest', sa.String(length=64), nullable=True),
    sa.Column('golden_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_client_name'), ['client_name'], unique=False)
        batch_op.create_index('ix_access_log_created_at', ['created_at'], unique=False)

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.String(length=100), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor'), ['actor'], unique=False)
        batch_op.create_index('ix_audit_event_created_at', ['created_at'], unique=False)

    op.create_table('reconciliation_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_run'))
    )
    op.create_table('source_system',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('connector', sa.String(length=50), nullable=False),
    sa.Column('purpose', sa.String(length=300), nullable=True),
    sa.Column('watermark', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_pulled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_system')),
    sa.UniqueConstraint('name', name=op.f('uq_source_system_name'))
    )
    op.create_table('api_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source_system_id', sa.Integer(), nullable=True),
    sa.Column('rate_limit_per_minute', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source_system_id'], ['source_system.id'], name=op.f('fk_api_client_source_system_id_source_system')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_client')),
    sa.UniqueConstraint('name', name=op.f('uq_api_client_name'))
    )
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_client_key_prefix'), ['key_prefix'], unique=False)

    op.create_table('change_event',
    sa.Column('cursor', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('golden_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_change_event_run_id_reconciliation_run')),
    sa.PrimaryKeyConstraint('cursor', name=op.f('pk_change_event'))
    )
    with op.batch_alter_table('change_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_event_golden_id'), ['golden_id'], unique=False)

    op.create_table('golden_record',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('redirect_to', sa.String(length=40), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_run_id'], ['reconciliation_run.id'], name=op.f('fk_golden_record_created_run_id_reconciliation_run')),
    sa.ForeignKeyConstraint(['redirect_to'], ['golden_record.id'], name=op.f('fk_golden_record_redirect_to_golden_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_golden_record'))
    )
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_golden_record_status'), ['status'], unique=False)

    op.create_table('quarantined_row',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_system_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('row_ref', sa.String(length=300), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_quarantined_row_run_id_reconciliation_run')),
    sa.ForeignKeyConstraint(['source_system_id'], ['source_system.id'], name=op.f('fk_quarantined_row_source_system_id_source_system')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_row'))
    )
    with op.batch_alter_table('quarantined_row', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_row_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_row_source_system_id'), ['source_system_id'], unique=False)

    op.create_table('source_record',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_system_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('standardised', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_run_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['changed_run_id'], ['reconciliation_run.id'], name=op.f('fk_source_record_changed_run_id_reconciliation_run')),
    sa.ForeignKeyConstraint(['source_system_id'], ['source_system.id'], name=op.f('fk_source_record_source_system_id_source_system')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_record')),
    sa.UniqueConstraint('source_system_id', 'source_id', name=op.f('uq_source_record_source_system_id_source_id'))
    )
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_record_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_record_source_system_id'), ['source_system_id'], unique=False)

    op.create_table('attribute_override',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('golden_id', sa.String(length=40), nullable=False),
    sa.Column('attribute', sa.String(length=60), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], name=op.f('fk_attribute_override_golden_id_golden_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribute_override'))
    )
    with op.batch_alter_table('attribute_override', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attribute_override_golden_id'), ['golden_id'], unique=False)

    op.create_table('golden_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('golden_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], name=op.f('fk_golden_history_golden_id_golden_record')),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_golden_history_run_id_reconciliation_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_golden_history'))
    )
    with op.batch_alter_table('golden_history', schema=None) as batch_op:
        batch_op.create_index('ix_golden_history_golden_id_id', ['golden_id', 'id'], unique=False)

    op.create_table('golden_link',
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('golden_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], name=op.f('fk_golden_link_golden_id_golden_record')),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_golden_link_run_id_reconciliation_run')),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], name=op.f('fk_golden_link_source_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_record_id', name=op.f('pk_golden_link'))
    )
    with op.batch_alter_table('golden_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_golden_link_golden_id'), ['golden_id'], unique=False)

    op.create_table('golden_relation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('subject_golden_id', sa.String(length=40), nullable=False),
    sa.Column('object_golden_id', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('sources', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['object_golden_id'], ['golden_record.id'], name=op.f('fk_golden_relation_object_golden_id_golden_record')),
    sa.ForeignKeyConstraint(['subject_golden_id'], ['golden_record.id'], name=op.f('fk_golden_relation_subject_golden_id_golden_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_golden_relation')),
    sa.UniqueConstraint('type', 'subject_golden_id', 'object_golden_id', name=op.f('uq_golden_relation_type_subject_golden_id_object_golden_id'))
    )
    with op.batch_alter_table('golden_relation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_golden_relation_object_golden_id'), ['object_golden_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_golden_relation_subject_golden_id'), ['subject_golden_id'], unique=False)

    op.create_table('identifier',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=True),
    sa.Column('raw_value', sa.String(length=320), nullable=True),
    sa.Column('quality', sa.String(length=20), nullable=False),
    sa.Column('error', sa.String(length=60), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], name=op.f('fk_identifier_source_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identifier'))
    )
    with op.batch_alter_table('identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identifier_source_record_id'), ['source_record_id'], unique=False)
        batch_op.create_index('ix_identifier_type_value', ['type', 'value'], unique=False)

    op.create_table('review_task',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('left_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('right_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('match_weight', sa.Double(), nullable=True),
    sa.Column('band', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.CheckConstraint('left_record_id < right_record_id', name=op.f('ck_review_task_ordered_pair')),
    sa.ForeignKeyConstraint(['left_record_id'], ['source_record.id'], name=op.f('fk_review_task_left_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_record_id'], ['source_record.id'], name=op.f('fk_review_task_right_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_review_task_run_id_reconciliation_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_task'))
    )
    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.create_index('ix_review_task_pair', ['left_record_id', 'right_record_id'], unique=False)
        batch_op.create_index('ix_review_task_status_score', ['status', 'score'], unique=False)

    op.create_table('source_record_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('standardised', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_run.id'], name=op.f('fk_source_record_version_run_id_reconciliation_run')),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], name=op.f('fk_source_record_version_source_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_record_version')),
    sa.UniqueConstraint('source_record_id', 'version', name=op.f('uq_source_record_version_source_record_id_version'))
    )
    op.create_table('source_relation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_system_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('subject_source_id', sa.String(length=200), nullable=False),
    sa.Column('object_source_id', sa.String(length=200), nullable=False),
    sa.Column('subject_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('object_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('asserted_by_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asserted_by_record_id'], ['source_record.id'], name=op.f('fk_source_relation_asserted_by_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['object_record_id'], ['source_record.id'], name=op.f('fk_source_relation_object_record_id_source_record'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_system_id'], ['source_system.id'], name=op.f('fk_source_relation_source_system_id_source_system')),
    sa.ForeignKeyConstraint(['subject_record_id'], ['source_record.id'], name=op.f('fk_source_relation_subject_record_id_source_record'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_relation')),
    sa.UniqueConstraint('source_system_id', 'type', 'subject_source_id', 'object_source_id', name=op.f('uq_source_relation_source_system_id_type_subject_source_id_object_source_id'))
    )
    with op.batch_alter_table('source_relation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_relation_asserted_by_record_id'), ['asserted_by_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_relation_object_record_id'), ['object_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_relation_subject_record_id'), ['subject_record_id'], unique=False)

    op.create_table('steward_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('left_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('right_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('review_task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.CheckConstraint("kind IN ('must_link', 'cannot_link')", name=op.f('ck_steward_decision_kind')),
    sa.CheckConstraint('left_record_id < right_record_id', name=op.f('ck_steward_decision_ordered_pair')),
    sa.ForeignKeyConstraint(['left_record_id'], ['source_record.id'], name=op.f('fk_steward_decision_left_record_id_source_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_task_id'], ['review_task.id'], name=op.f('fk_steward_decision_review_task_id_review_task')),
    sa.ForeignKeyConstraint(['right_record_id'], ['source_record.id'], name=op.f('fk_steward_decision_right_record_id_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_steward_decision'))
    )
    with op.batch_alter_table('steward_decision', schema=None) as batch_op:
        batch_op.create_index('ix_steward_decision_pair', ['left_record_id', 'right_record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('steward_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_steward_decision_pair')

    op.drop_table('steward_decision')
    with op.batch_alter_table('source_relation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_relation_subject_record_id'))
        batch_op.drop_index(batch_op.f('ix_source_relation_object_record_id'))
        batch_op.drop_index(batch_op.f('ix_source_relation_asserted_by_record_id'))

    op.drop_table('source_relation')
    op.drop_table('source_record_version')
    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.drop_index('ix_review_task_status_score')
        batch_op.drop_index('ix_review_task_pair')

    op.drop_table('review_task')
    with op.batch_alter_table('identifier', schema=None) as batch_op:
        batch_op.drop_index('ix_identifier_type_value')
        batch_op.drop_index(batch_op.f('ix_identifier_source_record_id'))

    op.drop_table('identifier')
    with op.batch_alter_table('golden_relation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_relation_subject_golden_id'))
        batch_op.drop_index(batch_op.f('ix_golden_relation_object_golden_id'))

    op.drop_table('golden_relation')
    with op.batch_alter_table('golden_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_link_golden_id'))

    op.drop_table('golden_link')
    with op.batch_alter_table('golden_history', schema=None) as batch_op:
        batch_op.drop_index('ix_golden_history_golden_id_id')

    op.drop_table('golden_history')
    with op.batch_alter_table('attribute_override', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attribute_override_golden_id'))

    op.drop_table('attribute_override')
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_record_source_system_id'))
        batch_op.drop_index(batch_op.f('ix_source_record_deleted_at'))

    op.drop_table('source_record')
    with op.batch_alter_table('quarantined_row', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_row_source_system_id'))
        batch_op.drop_index(batch_op.f('ix_quarantined_row_run_id'))

    op.drop_table('quarantined_row')
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_record_status'))

    op.drop_table('golden_record')
    with op.batch_alter_table('change_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_event_golden_id'))

    op.drop_table('change_event')
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_client_key_prefix'))

    op.drop_table('api_client')
    op.drop_table('source_system')
    op.drop_table('reconciliation_run')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_created_at')
        batch_op.drop_index(batch_op.f('ix_audit_event_actor'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
    op.drop_table('app_user')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index('ix_access_log_created_at')
        batch_op.drop_index(batch_op.f('ix_access_log_client_name'))

    op.drop_table('access_log')
