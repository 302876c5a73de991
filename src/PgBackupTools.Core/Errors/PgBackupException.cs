namespace PgBackupTools.Core.Errors;

/// <summary>What kind of failure this is, so the cmdlet layer can pick the matching PowerShell ErrorCategory.</summary>
public enum FailureKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    ConnectionFailed,
    PermissionDenied,
    InvalidData,
    ToolFailed,
    NotInstalled,
    Cancelled,
    OperationFailed,
}

/// <summary>
/// Every failure the core reports on purpose. The message is a sentence for the operator that says what happened
/// and what to do; it never carries a secret.
/// </summary>
public class PgBackupException : Exception
{
    public FailureKind Kind { get; }
    /// <summary>The thing the failure is about (a database name, a file, a backup id), for ErrorRecord.TargetObject.</summary>
    public object? Target { get; }

    public PgBackupException(FailureKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Target = target;
    }
}

/// <summary>Stored bytes whose SHA-256 differs from the one the manifest recorded.</summary>
public sealed class ChecksumMismatchException(string file, string expected, string actual)
    : PgBackupException(FailureKind.InvalidData,
        $"Checksum mismatch in '{file}': the manifest records SHA-256 {expected} but the stored bytes hash to {actual}. " +
        "The file was altered or damaged in the repository; restore from another backup and check the storage.", file)
{
    public string File { get; } = file;
}
