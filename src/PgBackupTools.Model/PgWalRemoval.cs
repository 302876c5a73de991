namespace PgBackupTools;

/// <summary>
/// One contiguous range of archived WAL files on one timeline that a retention policy removed (Remove-PgBackup
/// -PassThru): everything in it was older than the start of the oldest kept physical backup of the stanza.
/// </summary>
public sealed class PgWalRemoval
{
    public string Stanza { get; set; } = "";
    public uint Timeline { get; set; }
    /// <summary>The first segment of the range (24 hex digits).</summary>
    public string First { get; set; } = "";
    /// <summary>The last segment of the range.</summary>
    public string Last { get; set; } = "";
    /// <summary>Files removed: segments, and the .partial and .backup files among them.</summary>
    public int Files { get; set; }
    public int Segments { get; set; }
    /// <summary>Bytes the repository held for them.</summary>
    public long StoredBytes { get; set; }
    /// <summary>The segment the archive is kept from: the start of <see cref="KeptFor"/>.</summary>
    public string KeptFrom { get; set; } = "";
    /// <summary>The oldest kept physical backup, whose start set the cut.</summary>
    public string KeptFor { get; set; } = "";
    public string Repository { get; set; } = "";

    public override string ToString() => $"{First}..{Last}";
}
