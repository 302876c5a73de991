namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// Where a provider's API is and which account it acts in: what New-/Get-/Remove-/Restore-PgVolumeSnapshot bind.
/// Credentials are never here: they come from each SDK's own chain (AWS profile/role/env, GCP application default
/// credentials, Azure DefaultAzureCredential).
/// </summary>
public sealed record SnapshotTarget
{
    public required SnapshotProvider Provider { get; init; }
    /// <summary>AWS region (else AWS_REGION / AWS_DEFAULT_REGION / us-east-1).</summary>
    public string? Region { get; init; }
    /// <summary>The API endpoint, for tests and private endpoints (AWS ServiceURL; GCP compute base URL; Azure ARM URL).</summary>
    public string? Endpoint { get; init; }
    /// <summary>AWS shared-credentials profile.</summary>
    public string? ProfileName { get; init; }
    /// <summary>GCP project.</summary>
    public string? Project { get; init; }
    /// <summary>GCP zone of the disks.</summary>
    public string? Zone { get; init; }
    /// <summary>Azure subscription and resource group the snapshots are created in (default: the disk's).</summary>
    public string? SubscriptionId { get; init; }
    public string? ResourceGroup { get; init; }
    /// <summary>How long to wait for snapshots to complete.</summary>
    public TimeSpan CompletionTimeout { get; init; } = TimeSpan.FromHours(6);
    /// <summary>Upper bound of the polling interval (polling starts at 1 s and doubles).</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where <paramref name="snapshot"/> lives, from what it records about itself (provider, region or GCP zone, project,
    /// endpoint): how Test-PgBackup and Remove-PgBackup reach the snapshots a manifest names without provider parameters.
    /// </summary>
    public static SnapshotTarget Of(PgVolumeSnapshot snapshot) => new()
    {
        Provider = snapshot.Provider,
        Region = snapshot.Region,
        Endpoint = snapshot.Endpoint,
        Project = snapshot.Project,
        Zone = snapshot.Provider == SnapshotProvider.Gcp ? snapshot.Region : null,
    };
}
