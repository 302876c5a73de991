# Help for parameters many cmdlets share. A cmdlet's own file overrides an entry where the meaning differs.
@{
    HostName           = 'Server host name, IP address or Unix socket directory (alias -Host; default: PGHOST, then the local socket, then localhost).'
    Port               = 'Server port (default: PGPORT, then 5432).'
    Username           = 'Role to connect as (alias -User; default: PGUSER, then the operating-system user).'
    Credential         = 'Role and password as a PSCredential (for example from Get-Credential or Get-AutomationPSCredential). Without it, PGPASSWORD or ~/.pgpass are used, as with psql. The password reaches PostgreSQL programs only through a private passfile.'
    ConnectionString   = "A libpq ('host=db port=5432 dbname=app'), URI ('postgresql://user@db:5432/app') or Npgsql ('Host=db;Database=app') connection string; explicit parameters win over it."
    Passphrase         = 'The passphrase of an encrypted repository as a SecureString (for example from Read-Host -AsSecureString). Without any passphrase parameter, the environment variable PGBACKUPTOOLS_PASSPHRASE is used when set. A new repository created with a passphrase is encrypted (AES-256-GCM, see docs/encryption-format.md).'
    PassphraseVariable = 'The name of an environment variable that holds the passphrase; its value never appears on a command line or in a log.'
    PassphraseFile     = 'A file that holds the passphrase (one trailing newline is ignored). On Linux and macOS it must be readable by its owner only (chmod 600).'
    WhatIf             = 'Shows what would happen, and changes nothing.'
    Confirm            = 'Asks for confirmation before changing anything.'
}
