using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Repository;

/// <summary>repository.json: the format, when the repository was made and, if it is encrypted, its public
/// encryption parameters (salt, iterations, key check). Never a key or a passphrase.</summary>
public sealed class RepositoryInfo
{
    public const int CurrentFormat = 1;
    public int Format { get; set; } = CurrentFormat;
    public DateTimeOffset Created { get; set; }
    public string CreatedBy { get; set; } = "";
    /// <summary>Present if and only if the repository is encrypted (docs/encryption-format.md, section 1).</summary>
    public RepositoryEncryption? Encryption { get; set; }
}
