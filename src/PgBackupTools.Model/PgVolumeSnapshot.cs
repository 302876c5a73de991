using System.Text.Json.Serialization;

namespace PgBackupTools;

/// <summary>The cloud whose block-storage snapshots a <see cref="PgVolumeSnapshot"/> lives in.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SnapshotProvider>))]
public enum SnapshotProvider { Aws, Gcp, Azure }

/// <summary>
/// One snapshot of one volume (EBS volume, GCP persistent disk, Azure managed disk). Its property names follow
/// AWS.Tools.EC2 (SnapshotId, VolumeId, State, StartTime, Progress), so it pipes into Get-EC2Snapshot, New-EC2Volume
/// and friends by property name. Also the record of each snapshot in a Snapshot backup's manifest.
/// </summary>
public sealed class PgVolumeSnapshot
{
    public SnapshotProvider Provider { get; set; }
    /// <summary>snap-… (AWS), the snapshot name (GCP), the snapshot's resource id (Azure).</summary>
    public string SnapshotId { get; set; } = "";
    /// <summary>vol-… (AWS), the disk name (GCP), the disk's resource id (Azure).</summary>
    public string VolumeId { get; set; } = "";
    /// <summary>The provider's state in its own words (AWS: pending, completed, error).</summary>
    public string State { get; set; } = "";
    /// <summary>True once the snapshot can be restored from (AWS completed, GCP READY, Azure 100 %).</summary>
    public bool Completed { get; set; }
    /// <summary>True when the provider reports the snapshot failed.</summary>
    public bool Failed { get; set; }
    public DateTimeOffset StartTime { get; set; }
    /// <summary>Percent done, 0..100.</summary>
    public int Progress { get; set; }
    /// <summary>The Snapshot backup this snapshot belongs to (its pgbt:backup-id tag), if any.</summary>
    public string? BackupId { get; set; }
    /// <summary>Where it lives, for people: the provider, region and endpoint.</summary>
    public string? Location { get; set; }
    /// <summary>The AWS region (GCP zone) it lives in, so a piped snapshot finds its API without -Region.</summary>
    public string? Region { get; set; }
    /// <summary>GCP: the project it lives in (so a piped snapshot needs no -Project).</summary>
    public string? Project { get; set; }
    /// <summary>The API endpoint it was reached at, when not the provider's default (private endpoints, tests).</summary>
    public string? Endpoint { get; set; }
    public long? VolumeSizeGiB { get; set; }
    public SortedDictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);

    public override string ToString() => $"{SnapshotId} ({VolumeId})";
}

/// <summary>A volume (disk) created from a snapshot by Restore-PgVolumeSnapshot; VolumeId pipes into AWS.Tools.EC2.</summary>
public sealed class PgVolume
{
    public SnapshotProvider Provider { get; set; }
    public string VolumeId { get; set; } = "";
    public string SnapshotId { get; set; } = "";
    /// <summary>The availability zone (AWS, GCP) or region (Azure) it was created in.</summary>
    public string Zone { get; set; } = "";
    public string State { get; set; } = "";
    public string? BackupId { get; set; }
    public long? SizeGiB { get; set; }
    public SortedDictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);

    public override string ToString() => $"{VolumeId} (from {SnapshotId})";
}
