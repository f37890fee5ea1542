-- whatsapp_accounts before the four migrations of the multi-instance audit
-- (context/000_c5e2a7b5b0c46258.txt): its "Current Schema", plus the unique
-- key (phone_number, workspace_id, status) that an older migration added and
-- the audit's "Phone Number Unique Constraint" section asks to drop. The key
-- carries the name Laravel gives $table->unique([...]).
-- As in schema.sql: the foreign keys to workspaces and users are left out
-- (those tables do not exist here), NULLABLE is written NULL, the inline
-- UNIQUE of uuid and session_id are named keys, and the collation is
-- Laravel's default. Applying the migrations to this table gives schema.sql.
-- The statement loads in MariaDB 10.11 and in go-mysql-server v0.20.0.
CREATE TABLE whatsapp_accounts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    uuid VARCHAR(36) NOT NULL,
    workspace_id BIGINT UNSIGNED NOT NULL,
    session_id VARCHAR(255) NOT NULL,
    phone_number VARCHAR(50) NULL DEFAULT NULL,
    provider_type ENUM('meta', 'webjs') DEFAULT 'webjs',
    status ENUM('qr_scanning', 'authenticated', 'connected', 'disconnected', 'failed') DEFAULT 'qr_scanning',
    qr_code TEXT NULL,
    session_data LONGTEXT NULL,
    is_primary BOOLEAN DEFAULT FALSE,
    is_active BOOLEAN DEFAULT TRUE,
    last_activity_at TIMESTAMP NULL DEFAULT NULL,
    last_connected_at TIMESTAMP NULL DEFAULT NULL,
    last_cleanup_at TIMESTAMP NULL DEFAULT NULL,
    session_restore_count INT DEFAULT 0,
    health_score TINYINT DEFAULT 100,
    metadata JSON NULL,
    created_by BIGINT UNSIGNED NOT NULL,
    created_at TIMESTAMP NULL DEFAULT NULL,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    deleted_at TIMESTAMP NULL DEFAULT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY whatsapp_accounts_uuid_unique (uuid),
    UNIQUE KEY whatsapp_accounts_session_id_unique (session_id),
    UNIQUE KEY whatsapp_accounts_phone_number_workspace_id_status_unique (phone_number, workspace_id, status),
    KEY idx_workspace_status (workspace_id, status),
    KEY idx_session_status (session_id, status),
    KEY idx_provider_active (provider_type, is_active),
    KEY idx_workspace_primary (workspace_id, is_primary),
    KEY idx_stale_detection (status, last_activity_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
