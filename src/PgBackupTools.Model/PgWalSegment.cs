namespace PgBackupTools;

/// <summary>One WAL file in a repository's archive: what Send-PgWalSegment pushed or Receive-PgWalSegment fetched.</summary>
public sealed class PgWalSegment
{
    public string Name { get; set; } = "";
    /// <summary>Segment, Partial, History or BackupLabel.</summary>
    public string Kind { get; set; } = "";
    public uint Timeline { get; set; }
    public string Stanza { get; set; } = "";
    /// <summary>Raw size of the WAL file.</summary>
    public long Bytes { get; set; }
    /// <summary>Size of the archived object (header and compressed body).</summary>
    public long StoredBytes { get; set; }
    /// <summary>SHA-256 of the raw WAL file; empty in an encrypted repository, which stores an HMAC instead (no content fingerprint).</summary>
    public string Sha256 { get; set; } = "";
    /// <summary>True when the archived object is encrypted under the repository key.</summary>
    public bool Encrypted { get; set; }
    public CompressionKind Compression { get; set; }
    /// <summary>True when the archive already held this file with identical content (a re-push: success, nothing written).</summary>
    public bool AlreadyArchived { get; set; }
    /// <summary>For a fetch: true when it was served from the prefetch spool.</summary>
    public bool Prefetched { get; set; }
    /// <summary>The repository key of the archived object.</summary>
    public string Key { get; set; } = "";
    /// <summary>Where a fetched file was written (Receive-PgWalSegment).</summary>
    public string? Destination { get; set; }
    public string Repository { get; set; } = "";
    public double Seconds { get; set; }

    public override string ToString() => Name;
}
