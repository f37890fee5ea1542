-- Rows for the sample share in testdata/sample/share. Load after schema.sql.
-- Each row is there to show one outcome of `sessaudit audit --path-prefix /mnt/efs`;
-- the comment above each row names its outcome.
INSERT INTO whatsapp_accounts
  (id, uuid, workspace_id, assigned_instance_index, session_id, phone_number, provider_type, status,
   session_storage_path, session_file_size_bytes, session_storage_verified_at, created_by, created_at, updated_at, deleted_at)
VALUES
  -- verified (4096 was File::size of the directory inode)
  (1,  '00000000-0000-4000-8000-000000000001', 1, 1, 'alice',       '+4915550001', 'webjs', 'connected',    '/mnt/efs/workspace_1/session_alice',       4096, '2026-01-05 10:00:00', 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- verified (the path is cleaned lexically)
  (2,  '00000000-0000-4000-8000-000000000002', 1, 1, 'bob',         '+4915550002', 'webjs', 'connected',    '/mnt/efs//workspace_1/./session_bob/',     NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- missing
  (3,  '00000000-0000-4000-8000-000000000003', 1, 1, 'gone',        '+4915550003', 'webjs', 'disconnected', '/mnt/efs/workspace_1/session_gone',        1234, '2026-01-05 10:00:00', 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- soft_deleted
  (4,  '00000000-0000-4000-8000-000000000004', 2, 2, 'old',         '+4915550004', 'webjs', 'disconnected', '/mnt/efs/workspace_2/session_old',         NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-06 10:00:00', '2026-01-06 10:00:00'),
  -- unlinked
  (5,  '00000000-0000-4000-8000-000000000005', 2, 2, 'nopath',      '+4915550005', 'webjs', 'connected',    NULL,                                       NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- conflict (two live rows, one directory)
  (6,  '00000000-0000-4000-8000-000000000006', 3, 3, 'shared',      '+4915550006', 'webjs', 'connected',    '/mnt/efs/workspace_3/session_shared',      NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- conflict
  (7,  '00000000-0000-4000-8000-000000000007', 3, 3, 'shared-copy', '+4915550006', 'webjs', 'connected',    '/mnt/efs/workspace_3/session_shared',      NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- conflict (path in another workspace)
  (8,  '00000000-0000-4000-8000-000000000008', 4, 0, 'moved',       '+4915550008', 'webjs', 'connected',    '/mnt/efs/workspace_3/session_moved',       NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- unsafe_path (escapes the prefix)
  (9,  '00000000-0000-4000-8000-000000000009', 1, 1, 'escape',      '+4915550009', 'webjs', 'failed',       '/mnt/efs/../etc/passwd',                   NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- unsafe_path (relative)
  (10, '00000000-0000-4000-8000-000000000010', 1, 1, 'relative',    '+4915550010', 'webjs', 'failed',       'workspace_1/session_relative',             NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- unsafe_path (a symbolic link, never followed)
  (11, '00000000-0000-4000-8000-000000000011', 1, 1, 'link',        '+4915550011', 'webjs', 'connected',    '/mnt/efs/workspace_1/session_link',        NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- unreadable (the demo injects a permission error here)
  (12, '00000000-0000-4000-8000-000000000012', 5, 1, 'locked',      '+4915550012', 'webjs', 'connected',    '/mnt/efs/workspace_5/session_locked',      777,  '2026-01-05 10:00:00', 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- recent (row created within --min-age; its directory is not there yet)
  (13, '00000000-0000-4000-8000-000000000013', 6, 2, 'fresh',       '+4915550013', 'webjs', 'qr_scanning',  '/mnt/efs/workspace_6/session_fresh',       NULL, NULL,                  1, NOW(),                 NOW(),                 NULL),
  -- no_path (Cloud API account: no session files); misrouted with --instance-count 4 (instance 1, but 7 % 4 = 3)
  (14, '00000000-0000-4000-8000-000000000014', 7, 1, 'meta-cloud',  '+4915550014', 'meta',  'connected',    NULL,                                       NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  -- cleaned (soft-deleted, directory gone)
  (15, '00000000-0000-4000-8000-000000000015', 2, 2, 'retired',     '+4915550015', 'webjs', 'disconnected', '/mnt/efs/workspace_2/session_retired',     NULL, NULL,                  1, '2026-01-05 10:00:00', '2026-01-07 10:00:00', '2026-01-07 10:00:00');
-- On disk without a row: workspace_2/session_stray (orphan), workspace_6/session_new (recent: the demo
-- leaves its modification time at "now"), and workspace_abc, workspace_1/tmp (unrecognized); lost+found is
-- passed over by --ignore's default.
