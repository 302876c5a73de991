using System.Security;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// The passphrase does not match the repository's key check. Thrown before any data is read or
/// written. The message names where the passphrase came from (when known), never the passphrase.
/// </summary>
public sealed class WrongPassphraseException : SecurityException
{
    internal WrongPassphraseException(string? passphraseSource, bool empty)
        : base(BuildMessage(passphraseSource, empty))
    {
        PassphraseSource = passphraseSource;
        Empty = empty;
    }

    private WrongPassphraseException(string message, string? passphraseSource, bool empty) : base(message)
    {
        PassphraseSource = passphraseSource;
        Empty = empty;
    }

    private bool Empty { get; }

    /// <summary>
    /// The same refusal for a file of Protect-PgBackupFile, which has its own key check and no repository: the
    /// repository's wording would send the user looking for a repository passphrase.
    /// </summary>
    public WrongPassphraseException ForFile(string path)
    {
        string which = PassphraseSource is null ? "The passphrase" : $"The passphrase from {PassphraseSource}";
        string problem = Empty ? "is empty, so it cannot match" : "does not match";
        return new WrongPassphraseException(
            $"{which} {problem} the key check of {path}: it is not the passphrase the file was encrypted with. Nothing was written. " +
            "Supply the passphrase given to Protect-PgBackupFile and try again.", PassphraseSource, Empty);
    }

    /// <summary>Where the passphrase came from, e.g. "environment variable PGBT_PASSPHRASE"; null when not known.</summary>
    public string? PassphraseSource { get; }

    private static string BuildMessage(string? source, bool empty)
    {
        string which = source is null ? "The passphrase" : $"The passphrase from {source}";
        string problem = empty ? "is empty, so it cannot match" : "does not match";
        return $"{which} {problem} this repository's key check: it is not the passphrase the repository was " +
               "created with. Nothing was read or written. Supply the repository's passphrase and try again; " +
               "without it the encrypted backups cannot be read.";
    }
}
