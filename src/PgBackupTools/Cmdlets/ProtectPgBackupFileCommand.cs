using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Encrypts files with a passphrase (AES-256-GCM, docs/encryption-format.md section 5): the replacement for
/// 'openssl enc -aes-256-cbc -k', with the passphrase off the command line and every byte authenticated.
/// Writes &lt;file&gt;.enc unless -Destination says otherwise, atomically, and never overwrites without -Force.
/// </summary>
[Cmdlet(VerbsSecurity.Protect, "PgBackupFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileInfo))]
public sealed class ProtectPgBackupFileCommand : FileProtectionCmdlet
{
    private RepositoryEncryption? _parameters;
    private EncryptionKey? _key;

    protected override string Action => "Encrypt";

    protected override string DefaultDestination(string source) => source + ".enc";

    protected override FileInfo Process(string source, string destination, bool overwrite, OperationContext context)
    {
        if (_key is null)
        {
            // One KDF run per invocation: every file gets its own file key from its random salt anyway.
            context.Log("Deriving the key from the passphrase (PBKDF2-SHA256, 600,000 iterations).");
            (_parameters, _key) = RequirePassphraseSource().CreateRepositoryKey();
        }
        context.Log($"Encrypting {source} into {destination}.");
        return ProtectedFile.Protect(source, destination, _parameters!, _key, overwrite, context);
    }

    protected override void DisposeKeys()
    {
        _key?.Dispose();
        _key = null;
    }
}
