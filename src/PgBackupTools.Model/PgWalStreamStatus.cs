namespace PgBackupTools;

/// <summary>Where a WAL stream stands: what Start-PgWalStream writes when it stops, and Stop-PgWalStream -PassThru.</summary>
public sealed class PgWalStreamStatus
{
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";
    /// <summary>End of the WAL durable in the repository (complete segments plus the streamed .partial).</summary>
    public string? FlushLsn { get; set; }
    public uint Timeline { get; set; }
    /// <summary>The segment being received; its .partial holds the bytes up to FlushLsn.</summary>
    public string? Segment { get; set; }
    /// <summary>The server's position at the last durable write, as far as the stream had seen it.</summary>
    public string? ServerLsn { get; set; }
    /// <summary>Bytes of WAL the server had sent but the repository did not hold yet at the last durable write.</summary>
    public long LagBytes { get; set; }
    public DateTimeOffset? Updated { get; set; }
    public string? Slot { get; set; }
    public string? ApplicationName { get; set; }
    public bool Synchronous { get; set; }
    public string? Server { get; set; }
    /// <summary>The process that runs the stream on this machine, if one runs (Stop-PgWalStream: the one it stopped).</summary>
    public int? ProcessId { get; set; }

    public override string ToString() => $"{Stanza}@{FlushLsn}";
}
