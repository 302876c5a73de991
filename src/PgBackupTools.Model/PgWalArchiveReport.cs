namespace PgBackupTools;

/// <summary>A run of segments missing from the archive (inclusive), on one timeline.</summary>
public sealed record PgWalGap(uint Timeline, string First, string Last, long Count)
{
    public override string ToString() => Count == 1 ? First : $"{First}..{Last} ({Count} segments)";
}

/// <summary>Archived segments of one timeline.</summary>
public sealed record PgWalTimelineRange(uint Timeline, string First, string Last, long Segments, bool HasHistoryFile);

/// <summary>What Test-PgWalArchive found: the archiver's statistics (when a server was given) and the archive's continuity.</summary>
public sealed class PgWalArchiveReport
{
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";
    public string? SystemIdentifier { get; set; }
    public long? WalSegmentSize { get; set; }

    // pg_stat_archiver (null when no server was asked)
    public string? Server { get; set; }
    public long? ArchivedCount { get; set; }
    public string? LastArchivedWal { get; set; }
    public DateTimeOffset? LastArchivedTime { get; set; }
    public TimeSpan? LastArchivedAge { get; set; }
    public long? FailedCount { get; set; }
    public string? LastFailedWal { get; set; }
    public DateTimeOffset? LastFailedTime { get; set; }

    // continuity
    /// <summary>Where the check started: the oldest archived segment of each timeline, or -StartSegment.</summary>
    public string? StartSegment { get; set; }
    public long SegmentsFound { get; set; }
    public string? FirstSegment { get; set; }
    public string? LastSegment { get; set; }
    public List<PgWalTimelineRange> Timelines { get; set; } = [];
    public List<PgWalGap> MissingRanges { get; set; } = [];
    /// <summary>Every reason the check did not pass, as sentences.</summary>
    public List<string> Problems { get; set; } = [];
    public bool Passed { get; set; }
}
