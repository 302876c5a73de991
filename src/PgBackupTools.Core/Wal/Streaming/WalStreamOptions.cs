namespace PgBackupTools.Core.Wal.Streaming;

/// <summary>How a WAL stream runs.</summary>
public sealed record WalStreamOptions
{
    /// <summary>Physical replication slot; null streams without one (the server may then remove WAL the stream has not got).</summary>
    public string? Slot { get; init; }
    /// <summary>Create <see cref="Slot"/> when it does not exist.</summary>
    public bool CreateSlot { get; init; }
    /// <summary>Confirm each durable write at once (for synchronous_standby_names), instead of once per flush interval.</summary>
    public bool Synchronous { get; init; }
    /// <summary>How often the open segment's .partial is rewritten (asynchronous mode). Bounds the RPO.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>The application_name the receiver connects with: what synchronous_standby_names must name.</summary>
    public string? ApplicationName { get; init; }
    public WalPushOptions Push { get; init; } = new();
    public TimeSpan MinReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);

    public string ApplicationNameFor(string stanza) => ApplicationName ?? "pgbt_" + stanza;
}

/// <summary>What the stream reports as it goes (IProgress).</summary>
public sealed record WalStreamProgress(string Event, uint Timeline, ulong ReceivedLsn, ulong DurableLsn, string? Segment, string Message);
