namespace PgBackupTools.Core;

/// <summary>Progress of long work, which the cmdlets turn into Write-Progress.</summary>
/// <param name="Activity">What runs ("Backup of database 'app'").</param>
/// <param name="Status">Where it is ("pg_dump", "verifying checksums").</param>
/// <param name="Bytes">Bytes done so far.</param>
/// <param name="TotalBytes">Bytes expected, when known or estimated.</param>
/// <param name="BytesPerSecond">Rate since the start.</param>
public sealed record TransferProgress(string Activity, string Status, long Bytes, long? TotalBytes, double BytesPerSecond)
{
    /// <summary>Work measured in percent rather than bytes (cloud snapshots): shown as it is, with <see cref="Status"/> alone.</summary>
    public int? Percent { get; init; }

    public int PercentComplete => Percent ?? (TotalBytes is > 0 ? (int)Math.Clamp(Bytes * 100 / TotalBytes.Value, 0, 99) : -1);
}

/// <summary>How the core talks back while it works: progress, verbose lines, warnings, cancellation. No console.</summary>
public sealed class OperationContext
{
    public IProgress<TransferProgress>? Progress { get; init; }
    public Action<string>? Verbose { get; init; }
    public Action<string>? Warning { get; init; }
    public CancellationToken CancellationToken { get; init; }

    public static OperationContext None { get; } = new();

    public void Log(string message) => Verbose?.Invoke(message);
    public void Warn(string message) => Warning?.Invoke(message);
}
