-- whatsapp_accounts as it stands after the base migration and the four
-- migrations of the multi-instance audit (context/000_c5e2a7b5b0c46258.txt):
--   1. assigned_instance_index, assigned_instance_url after workspace_id
--   2. disconnected_at, disconnect_reason, disconnect_details after last_connected_at
--   3. session_storage_path, session_file_size_bytes, session_storage_verified_at after session_data
--   4. instance_migration_count, last_instance_migration_at after session_restore_count;
--      previous_instance_index after assigned_instance_index
-- Columns are in the order those after(...) clauses produce. The foreign keys
-- to workspaces and users are left out: those tables do not exist here.
-- The collation is Laravel's default, which compares strings case-insensitively.
-- The statement loads in MariaDB 10.11 and in go-mysql-server v0.20.0.
CREATE TABLE whatsapp_accounts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    uuid VARCHAR(36) NOT NULL,
    workspace_id BIGINT UNSIGNED NOT NULL,
    assigned_instance_index TINYINT NULL DEFAULT NULL COMMENT 'Index of WhatsApp instance handling this session (0-based)',
    previous_instance_index TINYINT NULL DEFAULT NULL COMMENT 'Previous instance index before migration',
    assigned_instance_url VARCHAR(255) NULL DEFAULT NULL COMMENT 'URL of instance handling this session',
    session_id VARCHAR(255) NOT NULL,
    phone_number VARCHAR(50) NULL DEFAULT NULL,
    provider_type ENUM('meta', 'webjs') DEFAULT 'webjs',
    status ENUM('qr_scanning', 'authenticated', 'connected', 'disconnected', 'failed') DEFAULT 'qr_scanning',
    qr_code TEXT NULL,
    session_data LONGTEXT NULL,
    session_storage_path VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage',
    session_file_size_bytes BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files',
    session_storage_verified_at TIMESTAMP NULL DEFAULT NULL COMMENT 'Last time session files were verified',
    is_primary BOOLEAN DEFAULT FALSE,
    is_active BOOLEAN DEFAULT TRUE,
    last_activity_at TIMESTAMP NULL DEFAULT NULL,
    last_connected_at TIMESTAMP NULL DEFAULT NULL,
    disconnected_at TIMESTAMP NULL DEFAULT NULL COMMENT 'When session was disconnected',
    disconnect_reason ENUM('user_initiated', 'instance_restart', 'timeout', 'error', 'qr_expired', 'unknown') NULL DEFAULT NULL COMMENT 'Reason for disconnect',
    disconnect_details TEXT NULL COMMENT 'Additional details about disconnect',
    last_cleanup_at TIMESTAMP NULL DEFAULT NULL,
    session_restore_count INT DEFAULT 0,
    instance_migration_count INT DEFAULT 0 COMMENT 'Number of times session migrated to different instance',
    last_instance_migration_at TIMESTAMP NULL DEFAULT NULL COMMENT 'Last instance migration time',
    health_score TINYINT DEFAULT 100,
    metadata JSON NULL,
    created_by BIGINT UNSIGNED NOT NULL,
    created_at TIMESTAMP NULL DEFAULT NULL,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    deleted_at TIMESTAMP NULL DEFAULT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY whatsapp_accounts_uuid_unique (uuid),
    UNIQUE KEY whatsapp_accounts_session_id_unique (session_id),
    KEY idx_workspace_status (workspace_id, status),
    KEY idx_session_status (session_id, status),
    KEY idx_provider_active (provider_type, is_active),
    KEY idx_workspace_primary (workspace_id, is_primary),
    KEY idx_stale_detection (status, last_activity_at),
    KEY idx_instance_assignment (assigned_instance_index),
    KEY idx_disconnect_analytics (disconnect_reason, disconnected_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
