namespace PgBackupTools;

/// <summary>
/// A point up to which WAL is safe outside the server: the newest archived segment (Source "archive"). The recovery
/// point objective is measured from the newest of these, so a later source (a WAL stream's flushed position) is
/// one more entry, and the RPO follows it without any other change.
/// </summary>
public sealed class PgWalRecoveryPoint
{
    /// <summary>"archive" (archive_command into the repository); other sources add their own name.</summary>
    public string Source { get; set; } = "";
    /// <summary>The segment (archive) or LSN (stream) that is safe.</summary>
    public string Position { get; set; } = "";
    /// <summary>When it became safe (for the archive: when the object was stored).</summary>
    public DateTimeOffset Time { get; set; }
    /// <summary>Its age at the time of the check: the data a loss of the server now would lose, at most.</summary>
    public TimeSpan Age { get; set; }

    public override string ToString() => $"{Source} {Position}";
}

/// <summary>
/// The WAL archive of one stanza: its newest archived segment and age in the repository, and (with a server) what
/// pg_stat_archiver says and how far the archive is behind the server's current WAL position.
/// </summary>
public sealed class PgWalStatus
{
    public string Stanza { get; set; } = "";
    /// <summary>The cluster the stanza is bound to (archive.json).</summary>
    public string? SystemIdentifier { get; set; }
    public long? WalSegmentSize { get; set; }
    public long SegmentsInRepository { get; set; }
    public string? LastArchivedSegment { get; set; }
    /// <summary>When the newest segment was stored in the repository.</summary>
    public DateTimeOffset? LastArchivedTime { get; set; }
    public TimeSpan? LastArchivedAge { get; set; }

    // With a server (null otherwise).
    public string? Server { get; set; }
    public string? ServerSystemIdentifier { get; set; }
    public long? ArchivedCount { get; set; }
    public long? FailedCount { get; set; }
    public string? LastFailedWal { get; set; }
    public DateTimeOffset? LastFailedTime { get; set; }
    /// <summary>True when archive_command's last attempt failed after its last success (pg_stat_archiver).</summary>
    public bool? ArchiverFailing { get; set; }
    public string? CurrentLsn { get; set; }
    /// <summary>The segment the server is writing now.</summary>
    public string? CurrentSegment { get; set; }
    /// <summary>Complete segments the server wrote that are not in the repository yet.</summary>
    public long? ArchiveLagSegments { get; set; }
    /// <summary>WAL bytes written after the end of the newest archived segment (the current segment included).</summary>
    public long? ArchiveLagBytes { get; set; }

    // With a WAL stream (Start-PgWalStream) writing into the stanza (null otherwise).
    /// <summary>End of the WAL the stream made durable in the repository (its stream.json).</summary>
    public string? StreamedLsn { get; set; }
    /// <summary>When the stream last made WAL durable.</summary>
    public DateTimeOffset? StreamUpdated { get; set; }
    public TimeSpan? StreamAge { get; set; }
    /// <summary>WAL the server has that the stream has not made durable yet (the server's current position with a
    /// connection, otherwise the position the stream last saw).</summary>
    public long? StreamLagBytes { get; set; }
    public bool? StreamSynchronous { get; set; }

    /// <summary>Where WAL is safe; the RPO is the age of the newest.</summary>
    public List<PgWalRecoveryPoint> RecoveryPoints { get; set; } = [];
    /// <summary>Every reason the archive is not healthy, as sentences that say what to do.</summary>
    public List<string> Problems { get; set; } = [];

    public PgWalRecoveryPoint? NewestRecoveryPoint => RecoveryPoints.OrderByDescending(p => p.Time).FirstOrDefault();

    public override string ToString() => $"{Stanza}: {LastArchivedSegment ?? "(nothing archived)"}";
}
