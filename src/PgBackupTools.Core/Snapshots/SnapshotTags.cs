namespace PgBackupTools.Core.Snapshots;

/// <summary>The tags (GCP: labels) this tool puts on every snapshot, so sets can be found, kept and removed by backup.</summary>
public static class SnapshotTags
{
    public const string Name = "Name";
    public const string BackupId = "pgbt-backup-id";
    public const string Cluster = "pgbt-cluster";
    public const string Stanza = "pgbt-stanza";
    public const string Request = "pgbt-request";
    /// <summary>"3/5": this volume's place in the set and the set's size.</summary>
    public const string SetMember = "pgbt-set-member";

    /// <summary>The stanza a set was taken for (its pgbt-stanza tag), when it was a consistent backup.</summary>
    public static string? StanzaOf(IEnumerable<PgVolumeSnapshot> snapshots) =>
        snapshots.Select(s => s.Tags.GetValueOrDefault(Stanza)).FirstOrDefault(s => s is not null);

    /// <summary>The tag filter that finds every snapshot this tool made (an empty value matches any).</summary>
    public static IReadOnlyDictionary<string, string> Ours { get; } = new Dictionary<string, string> { [BackupId] = "" };
}
