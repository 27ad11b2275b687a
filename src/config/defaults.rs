//! The defaults of every section: what an empty config file means.

use std::path::PathBuf;

use super::{
    Active, Anonymous, Config, Dur, Identity, Limits, ListMtime, Log, Metrics, Passive, PortRange,
    ProxyProtocol, S3, Size, Uploads,
};

impl Default for Uploads {
    fn default() -> Self {
        Self {
            keep_partial: false,
            commit_grace: Dur(std::time::Duration::from_millis(10)),
            abandoned_after: Dur(std::time::Duration::from_secs(24 * 3600)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:2121".parse().expect("literal address"),
            banner: "s3ftpd ready".into(),
            passive: Passive::default(),
            active: Active::default(),
            tls: None,
            s3: S3::default(),
            storages: std::collections::BTreeMap::new(),
            groups: std::collections::BTreeMap::new(),
            users: Vec::new(),
            identity: Identity::default(),
            anonymous: Anonymous::default(),
            ftp: super::Ftp::default(),
            events: super::Events::default(),
            limits: Limits::default(),
            uploads: Uploads::default(),
            metrics: Metrics::default(),
            proxy_protocol: ProxyProtocol::default(),
            log: Log::default(),
        }
    }
}

impl Default for Passive {
    fn default() -> Self {
        Self {
            ports: PortRange {
                first: 50000,
                last: 50100,
            },
            public_host: None,
            ports_per_replica: None,
            replica: None,
            public_hosts: Vec::new(),
            peer_check: true,
        }
    }
}

impl Default for Active {
    fn default() -> Self {
        Self {
            enabled: true,
            connect_to_peer: false,
        }
    }
}

impl Default for S3 {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
            secret_access_key_env: None,
            secret_access_key_file: None,
            read_only: false,
            storage_class: None,
            sse: None,
            sse_kms_key_id: None,
            acl: None,
            part_size: Size(8 * 1024 * 1024),
            upload_concurrency: 4,
            download_concurrency: 4,
            data_dir: PathBuf::from("./s3ftpd-data"),
            list_mtime: ListMtime::Metadata,
            timeout: Dur(std::time::Duration::from_secs(30)),
            max_connections: 512,
        }
    }
}

impl Default for Anonymous {
    fn default() -> Self {
        Self {
            enabled: false,
            home: "/pub".into(),
            read_only: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            max_sessions_per_ip: 64,
            max_unauthenticated: 512,
            max_unauthenticated_per_ip: 64,
            login_timeout: Dur(std::time::Duration::from_secs(30)),
            idle_timeout: Dur(std::time::Duration::from_secs(300)),
            data_timeout: Dur(std::time::Duration::from_secs(60)),
            passive_timeout: Dur(std::time::Duration::from_secs(30)),
            handshake_timeout: Dur(std::time::Duration::from_secs(30)),
            max_login_failures: 3,
            max_commands_per_second: 200,
            ban_after_failures: 10,
            ban_window: Dur(std::time::Duration::from_secs(600)),
            ban_duration: Dur(std::time::Duration::from_secs(900)),
            allow_from: Vec::new(),
            deny_from: Vec::new(),
            upload_bandwidth: None,
            download_bandwidth: None,
            quota_rescan: Dur(std::time::Duration::from_secs(300)),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
            transfer_log: None,
        }
    }
}
