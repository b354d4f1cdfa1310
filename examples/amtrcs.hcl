# amtrcs configuration: every block and attribute, with its default.
#
# Every setting is optional: an empty file (or no file) is a valid
# configuration with the defaults shown in the comments. Check a file with
#
#   amtrcs config check examples/amtrcs.hcl
#
# Expressions may read the environment as env.NAME, for example
# data_dir = env.STATE_DIRECTORY. Durations are Go durations: "336h", "90m",
# "1h30m" (there is no day unit: 14 days is "336h").
#
# Secrets (passwords, tokens, keys) are never written here: the file names
# where they live, an environment variable (*_env) or a file (*_file).

# Where the store (bbolt), the KEK file and the embedded CA live.
# Default: "./amtrcs-data" (the --data-dir flag and $AMTRCS_DATA_DIR set the
# command line's default).
data_dir = "/var/lib/amtrcs"

# The key-encryption key that seals secrets at rest with AES-256-GCM.
# Exactly one source. Default (no block): a file "kek" in data_dir, created
# with mode 0600 on first start.
kek {
  file = "/var/lib/amtrcs/kek" # a file of 32 random bytes, mode 0600
  # env = "AMTRCS_KEK"         # or: the name of a variable holding the key
  #                            # (64 hex characters or base64 of 32 bytes)
  # kms = "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin"
  #                            # or: an RSA key pair in an HSM (PKCS#11), which wraps the
  #                            # store's data key; create it once with amtrcs kek init.
  #                            # See "Key-encryption key in an HSM" in README.md.
}

# Where the records live. Default: backend = "bbolt", the file amtrcs.db in
# data_dir (one server). "postgres" keeps them in a PostgreSQL database that
# several servers share (give every server the same KEK); the URL holds a
# password, so it comes from the environment and is never shown.
store {
  backend = "bbolt"
  # backend = "postgres"
  # url     = env.AMTRCS_DATABASE_URL # postgres://amtrcs:PASSWORD@db:5432/amtrcs
}

# Listeners, and the names the RCS is known by.
server {
  # REST API and dashboard. Default "127.0.0.1:8443". Off loopback, the api
  # block must configure authentication.
  api = "0.0.0.0:8443"

  # PEM certificate and key for the API and agent gateway, both or neither.
  # Default: none, the internal CA issues the server certificate.
  # tls_cert = "/etc/amtrcs/server.crt"
  # tls_key  = "/etc/amtrcs/server.key"

  # Where agents on the PCs connect (websocket). Default "127.0.0.1:8444".
  agent_gateway = "0.0.0.0:8444"

  # Legacy "hello" remote configuration: devices in setup mode send hello
  # messages to TCP port 9971. Default "" (off).
  hello = "0.0.0.0:9971"

  # Prometheus metrics: /metrics is always served on the API listener to
  # admins (admin token or client certificate). metrics opens a separate
  # plain-HTTP listener for it without authentication: bind it to loopback
  # or a management network. Default "" (API listener only).
  metrics = "127.0.0.1:9464"

  # The RCS's own DNS names and IP addresses as devices reach it. The DNS
  # checks expect ProvisionServer.<suffix> to resolve to one of them.
  # Default [].
  advertise_addresses = ["rcs.corp.example.com", "10.0.0.5"]

  # Audit log retention, applied at start and every 10 minutes: events older
  # than audit_max_age, and the oldest beyond the newest audit_max_records,
  # are deleted; nothing else in the log is ever changed. "0" switches a
  # limit off. Defaults "8760h" (365 days) and 1000000.
  audit_max_age     = "8760h"
  audit_max_records = 1000000

  # A hello from an unknown device makes a pending record, deleted after
  # hello_pending_expiry unless the device is activated or an admin accepts
  # it (POST /api/v1/devices/{id}/accept). An address may have at most
  # hello_pending_per_source pending devices, and all together at most
  # hello_pending_max; hellos beyond are refused and counted in the audit
  # log (api.refused), one record per period, not one per hello.
  # Defaults "24h", 8 and 1024.
  hello_pending_expiry     = "24h"
  hello_pending_per_source = 8
  hello_pending_max        = 1024

  # Several servers on one PostgreSQL store (README "Running several
  # servers"): a server's hold on a device (its job, its agent) lasts this
  # long without renewal, so the others take over a dead server's devices
  # after it.
  lease_ttl = "15s"
}

# How REST API clients authenticate. Default: none, allowed only while
# server.api listens on loopback.
api {
  # SHA-256 (hex) of accepted bearer tokens: printf %s TOKEN | sha256sum
  token_sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
  # The name of a variable holding one more token. Default: none.
  token_env = "AMTRCS_API_TOKEN"
  # Accept TLS client certificates issued by the internal CA. Default false.
  client_certificates = true
}

# The internal CA that issues AMT TLS, agent and server certificates.
ca {
  # "embedded" (default): a smallstep authority inside amtrcs, keys sealed in
  # the store. "external": a step-ca reached over HTTPS with a JWK
  # provisioner, which then needs url, root_fingerprint and a password source.
  mode = "external"
  url  = "https://ca.corp.example.com:9000"
  # The JWK provisioner's name. Default "amtrcs".
  provisioner = "amtrcs"
  # Where the provisioner's password lives: one of
  jwk_password_file = "/etc/amtrcs/ca-password"
  # jwk_password_env = "AMTRCS_CA_PASSWORD"
  # SHA-256 of the CA root: step certificate fingerprint root_ca.crt
  root_fingerprint = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

  # Validity of issued certificates. Defaults: AMT TLS "8760h" (365 days),
  # agent "2160h" (90 days), server "2160h" (90 days).
  amt_tls_validity = "8760h"
  agent_validity   = "2160h"
  server_validity  = "2160h"
}

# The resolvers the DNS checks query.
dns {
  # IP or IP:port (port 53 when left out). Default []: the system's resolvers.
  resolvers = ["10.0.0.53", "10.0.1.53:53"]
  # Time limit of each query. Default "2s".
  timeout = "2s"
}

# A domain is a set of DNS suffixes (DHCP option 15, or the MEBx PKI DNS
# suffix) served by one provisioning certificate and one profile. Any number
# of domains; a suffix belongs to at most one. Default: none.
domain "corp" {
  # Lowercase letters, digits and hyphens; no trailing dot needed.
  suffixes = ["corp.example.com", "branch.corp.example.com"]
  # The store id of the provisioning certificate (amtrcs cert list), or
  # provisioning_cert_file, a PEM file with the chain and its key; at most
  # one. Default: none, the RCS picks a stored certificate covering the suffix.
  provisioning_cert = "rcs-corp-2025"
  # The PKI DNS suffix expected in (or set into) the MEBx. Default: none.
  mebx_suffix = "corp.example.com"
  # The profile devices of this domain get. Default "default". The server
  # chooses it: an agent's --profile is honoured only when it names this
  # profile or one in allowed_profiles, and refused otherwise.
  profile = "office"
  # Other profiles an agent of this domain may ask for. Default: none.
  allowed_profiles = ["lab"]
}

domain "lab" {
  suffixes               = ["lab.example.net"]
  provisioning_cert_file = "/etc/amtrcs/lab-provisioning.pem"
  profile                = "lab"
}

# A profile is what a device gets once activated. The built-in profile
# "default" (every default below) always exists unless redefined.
profile "office" {
  # "acm" (default): Admin Control Mode, needs the provisioning certificate.
  # "ccm": Client Control Mode, no certificate, user consent always required.
  mode = "acm"

  # "random" (default): a new random password per device, sealed in the
  # store before it is set. "static": one password for every device, read
  # from admin_password_env or admin_password_file (exactly one).
  admin_password = "random"
  # Length of random admin passwords, 8 to 32. Default 16.
  admin_password_length = 20

  # The MEBx password (ACM only): "random" (default) or "static" with
  # mebx_password_env or mebx_password_file.
  mebx_password      = "static"
  mebx_password_file = "/etc/amtrcs/mebx-password"

  # Redirection features. Defaults: kvm true, sol true, ider false.
  redirection {
    kvm  = true
    sol  = true
    ider = false
  }

  # Which operations need the code shown on the PC's screen: "none", "kvm"
  # or "all". Default "kvm" in ACM; CCM always requires "all".
  user_consent = "kvm"

  # AMT's wired address: DHCP (default true), or with dhcp = false the static
  # address of the OS, copied by sync_from_host (default true).
  network {
    dhcp           = true
    sync_from_host = true
  }

  # Copy the OS host and domain name into AMT (its TLS certificate must match
  # them). Default true.
  sync_hostname = true

  # Turn AMT on when the firmware reports it disabled (ME 16.1 and later can
  # be enabled from the host). false refuses such a device instead, with the
  # fix (enable it in the MEBx). Default true.
  enable_amt = true

  # AMT's TLS listener, with a certificate from the internal CA.
  # Defaults: enabled true, mode "server"; "mutual" also asks clients for a
  # certificate from the internal CA.
  tls {
    enabled = true
    mode    = "mutual"
  }
}

profile "lab" {
  mode               = "ccm"
  user_consent       = "all"
  admin_password     = "static"
  admin_password_env = "AMTRCS_LAB_ADMIN_PASSWORD"
}

# What the RCS keeps doing after setup. Periods of "0" switch a task off.
maintenance {
  # Synchronise the AMT clock. Default "336h" (14 days).
  clock_sync = "336h"
  # Synchronise host name, domain and static address. Default "24h".
  network_sync = "24h"
  # Re-issue AMT TLS certificates this long before expiry; at least 30 days
  # is advised. Must be shorter than ca.amt_tls_validity. Default "720h".
  tls_renew_before = "720h"
  # Rotate random admin passwords. Default "2160h" (90 days).
  password_rotation = "2160h"
  # Re-apply each device's profile (the enforce task: features, user
  # consent, network, names, TLS, password ages). Default "0s": on demand.
  enforce = "0s"
  # Report the provisioning certificate's coming expiry this long before.
  # Default ["1440h", "720h"] (60 and 30 days).
  provisioning_cert_warn = ["1440h", "720h"]
}
