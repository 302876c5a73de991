namespace PgBackupTools.Core.Repository;

/// <summary>repository.json: the format and when the repository was made. Never a key or a passphrase.</summary>
public sealed class RepositoryInfo
{
    public const int CurrentFormat = 1;
    public int Format { get; set; } = CurrentFormat;
    public DateTimeOffset Created { get; set; }
    public string CreatedBy { get; set; } = "";
}
