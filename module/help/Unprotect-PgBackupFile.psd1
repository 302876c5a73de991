@{
    Synopsis    = 'Decrypts files written by Protect-PgBackupFile, checking every chunk before any plaintext is kept.'
    Description = @'
Decrypts each file to a temporary file beside the destination and renames it into place only when every chunk
authenticated and the file ended where its final chunk says. A wrong passphrase is refused before anything is
written; a tampered or truncated file fails with an error that names it, and leaves no output.
'@
    Parameters  = @{
        Path        = 'The encrypted files. Accepts FileInfo objects (FullName) from the pipeline.'
        Destination = 'The decrypted file to write (default: the source path without its .enc). Only with a single -Path.'
        Force       = 'Overwrite an existing destination, and do not ask for confirmation.'
    }
    Examples    = @(
        @{
            Code    = 'Unprotect-PgBackupFile -Path ./app.sql.gz.enc -PassphraseVariable PGBACKUP_PASSPHRASE'
            Remarks = 'Writes ./app.sql.gz, with the passphrase from the environment variable PGBACKUP_PASSPHRASE.'
        }
        @{
            Code    = 'Get-ChildItem ./*.enc | Unprotect-PgBackupFile -Passphrase $passphrase -Force'
            Remarks = 'Decrypts every .enc file in the folder, replacing earlier decrypted copies.'
        }
    )
}
