@{
    Synopsis    = 'Encrypts files with a passphrase (AES-256-GCM, authenticated), replacing openssl enc -aes-256-cbc -k.'
    Description = @'
Encrypts each file into a standalone encrypted file that carries its own key-derivation parameters (PBKDF2-HMAC-SHA256,
600,000 iterations), so the passphrase alone decrypts it with Unprotect-PgBackupFile or with the recipe in
docs/encryption-format.md. Every 1 MiB chunk is authenticated: tampering, truncation and reordering are detected on
decryption. The destination is written to a temporary file and renamed into place; an existing destination is
kept unless -Force. The passphrase never appears on a command line, in a log or in the file.
'@
    Parameters  = @{
        Path        = 'The files to encrypt. Accepts FileInfo objects (FullName) from the pipeline, as Get-ChildItem writes them.'
        Destination = 'The encrypted file to write (default: the source path with .enc appended). Only with a single -Path.'
        Force       = 'Overwrite an existing destination, and do not ask for confirmation.'
    }
    Examples    = @(
        @{
            Code    = 'Protect-PgBackupFile -Path ./app.sql.gz -PassphraseFile ~/.pgbackup-passphrase'
            Remarks = 'Writes ./app.sql.gz.enc, with the passphrase read from a file that only its owner can read.'
        }
        @{
            Code    = 'Get-ChildItem /srv/export/*.sql.gz | Protect-PgBackupFile -Passphrase (Read-Host -AsSecureString "Passphrase")'
            Remarks = 'Encrypts every exported dump, asking for the passphrase once.'
        }
    )
}
