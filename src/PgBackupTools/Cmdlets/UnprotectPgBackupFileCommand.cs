using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Decrypts files written by Protect-PgBackupFile. The passphrase is checked against the file's key check before
/// anything is written; the output appears only once every byte has authenticated. Writes the name without its
/// ".enc" unless -Destination says otherwise, and never overwrites without -Force.
/// </summary>
[Cmdlet(VerbsSecurity.Unprotect, "PgBackupFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileInfo))]
public sealed class UnprotectPgBackupFileCommand : FileProtectionCmdlet
{
    // Files protected in one invocation share their KDF parameters: unlock each set once.
    private readonly Dictionary<string, EncryptionKey> _keys = new(StringComparer.Ordinal);

    protected override string Action => "Decrypt";

    protected override string DefaultDestination(string source) =>
        source.EndsWith(".enc", StringComparison.OrdinalIgnoreCase)
            ? source[..^4]
            : throw new PSArgumentException($"{source} does not end in .enc, so there is no default name for its decrypted copy: give -Destination.");

    protected override FileInfo Process(string source, string destination, bool overwrite, OperationContext context)
    {
        var parameters = ProtectedFile.ReadParameters(source);
        string id = parameters.Salt + "/" + parameters.Iterations + "/" + parameters.KeyCheck;
        if (!_keys.TryGetValue(id, out var key))
        {
            try
            {
                key = RequirePassphraseSource().Unlock(parameters);
            }
            catch (WrongPassphraseException e)
            {
                throw e.ForFile(source);
            }
            _keys[id] = key;
        }
        context.Log($"Decrypting {source} into {destination}.");
        return ProtectedFile.Unprotect(source, destination, key, overwrite, context);
    }

    protected override void DisposeKeys()
    {
        foreach (var key in _keys.Values) key.Dispose();
        _keys.Clear();
    }
}
