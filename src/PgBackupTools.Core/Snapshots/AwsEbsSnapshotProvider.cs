using System.Globalization;
using System.Net;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// EBS snapshots through AWSSDK.EC2 (the SDK behind AWS.Tools.EC2). The SDK's standard retry mode retries throttling
/// (RequestLimitExceeded) and 5xx with jittered backoff. EC2's CreateSnapshot has no client token, so idempotency is
/// by tag: each snapshot carries <see cref="SnapshotTags.Request"/> and a create first looks for it.
/// </summary>
public sealed class AwsEbsSnapshotProvider : ISnapshotProvider
{
    private readonly IAmazonEC2 _client;
    private readonly TimeSpan _maxPoll;
    private readonly string _region;
    private readonly string? _endpoint;

    public SnapshotProvider Kind => SnapshotProvider.Aws;
    public string Location { get; }

    public AwsEbsSnapshotProvider(SnapshotTarget target, AWSCredentials? credentials = null)
    {
        string region = target.Region ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_REGION"))
            ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION")) ?? "us-east-1";
        string? endpoint = target.Endpoint ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_EC2"));
        var config = new AmazonEC2Config { RetryMode = RequestRetryMode.Standard, MaxErrorRetry = 6, Timeout = TimeSpan.FromMinutes(2) };
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            config.AuthenticationRegion = region;
        }
        else config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        Location = endpoint is null ? "AWS " + region : $"AWS {region} at {endpoint}";
        _region = region;
        _endpoint = endpoint;
        _maxPoll = target.MaxPollInterval;
        _client = new AmazonEC2Client(credentials ?? ResolveCredentials(target.ProfileName), config);
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static AWSCredentials ResolveCredentials(string? profileName)
    {
        if (profileName is not null)
        {
            var chain = new Amazon.Runtime.CredentialManagement.CredentialProfileStoreChain();
            if (chain.TryGetAWSCredentials(profileName, out var profile)) return profile;
            throw new PgBackupException(FailureKind.InvalidArgument, $"The AWS profile '{profileName}' was not found in the shared credentials or config file.", profileName);
        }
        try
        {
            return DefaultAWSCredentialsIdentityResolver.GetCredentials();
        }
        catch (AmazonClientException e)
        {
            throw new PgBackupException(FailureKind.PermissionDenied,
                $"No AWS credentials found for EBS snapshots: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or -ProfileName, or use an instance/container role. ({e.Message})", null, e);
        }
    }

    public void Dispose() => _client.Dispose();

    public async Task<PgVolumeSnapshot> CreateSnapshotAsync(string volumeId, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        var existing = await ListSnapshotsAsync(new Dictionary<string, string> { [SnapshotTags.Request] = requestToken }, cancellationToken).ConfigureAwait(false);
        if (existing.FirstOrDefault(s => s.VolumeId == volumeId) is { } made) return made;
        var allTags = new Dictionary<string, string>(tags) { [SnapshotTags.Request] = requestToken };
        var request = new CreateSnapshotRequest
        {
            VolumeId = volumeId,
            Description = tags.TryGetValue(SnapshotTags.Name, out var name) ? name : "PgBackupTools",
            TagSpecifications = [new TagSpecification { ResourceType = ResourceType.Snapshot, Tags = allTags.Select(t => new Tag(t.Key, t.Value)).ToList() }],
        };
        var response = await CallAsync(() => _client.CreateSnapshotAsync(request, cancellationToken), $"create a snapshot of volume {volumeId}", volumeId).ConfigureAwait(false);
        var snapshot = ToSnapshot(response.Snapshot);
        // The response of CreateSnapshot may omit the tags it was given; the snapshot has them.
        foreach (var (k, v) in allTags) snapshot.Tags.TryAdd(k, v);
        snapshot.BackupId ??= tags.GetValueOrDefault(SnapshotTags.BackupId);
        return snapshot;
    }

    // EBS: "the point-in-time snapshot is created immediately" once CreateSnapshot returns; the copy completes later.
    public Task<PgVolumeSnapshot> WaitForPointInTimeAsync(PgVolumeSnapshot snapshot, CancellationToken cancellationToken) => Task.FromResult(snapshot);

    public async Task<PgVolumeSnapshot> GetSnapshotAsync(string snapshotId, CancellationToken cancellationToken)
    {
        var response = await CallAsync(() => _client.DescribeSnapshotsAsync(new DescribeSnapshotsRequest { SnapshotIds = [snapshotId] }, cancellationToken),
            $"read snapshot {snapshotId}", snapshotId).ConfigureAwait(false);
        var found = response.Snapshots?.FirstOrDefault()
            ?? throw new PgBackupException(FailureKind.NotFound, $"Snapshot {snapshotId} does not exist in {Location}.", snapshotId);
        return ToSnapshot(found);
    }

    public async Task<IReadOnlyList<PgVolumeSnapshot>> ListSnapshotsAsync(IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        var filters = tags.Select(t => string.IsNullOrEmpty(t.Value)
            ? new Filter("tag-key", [t.Key])
            : new Filter("tag:" + t.Key, [t.Value])).ToList();
        var result = new List<PgVolumeSnapshot>();
        string? next = null;
        do
        {
            var request = new DescribeSnapshotsRequest { OwnerIds = ["self"], Filters = filters, NextToken = next };
            var response = await CallAsync(() => _client.DescribeSnapshotsAsync(request, cancellationToken), "list snapshots", null).ConfigureAwait(false);
            result.AddRange((response.Snapshots ?? []).Select(ToSnapshot));
            next = response.NextToken;
        } while (!string.IsNullOrEmpty(next));
        return result;
    }

    public async Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken)
    {
        try
        {
            await _client.DeleteSnapshotAsync(new DeleteSnapshotRequest { SnapshotId = snapshotId }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonEC2Exception e) when (e.ErrorCode == "InvalidSnapshot.NotFound") { }
        catch (AmazonServiceException e)
        {
            throw Describe(e, $"delete snapshot {snapshotId}", snapshotId);
        }
    }

    public async Task<PgVolume> CreateVolumeAsync(PgVolumeSnapshot snapshot, string zone, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        var request = new CreateVolumeRequest
        {
            SnapshotId = snapshot.SnapshotId,
            AvailabilityZone = zone,
            ClientToken = requestToken,
            TagSpecifications = tags.Count == 0 ? null : [new TagSpecification { ResourceType = ResourceType.Volume, Tags = tags.Select(t => new Tag(t.Key, t.Value)).ToList() }],
        };
        var response = await CallAsync(() => _client.CreateVolumeAsync(request, cancellationToken), $"create a volume from snapshot {snapshot.SnapshotId} in {zone}", snapshot.SnapshotId).ConfigureAwait(false);
        var volume = response.Volume;
        var delay = TimeSpan.FromSeconds(1);
        while (volume.State != VolumeState.Available)
        {
            if (volume.State == VolumeState.Error || volume.State == VolumeState.Deleted || volume.State == VolumeState.Deleting)
                throw new PgBackupException(FailureKind.OperationFailed, $"Volume {volume.VolumeId} from snapshot {snapshot.SnapshotId} went to state '{volume.State}' in {Location}.", volume.VolumeId);
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _maxPoll.Ticks));
            var described = await CallAsync(() => _client.DescribeVolumesAsync(new DescribeVolumesRequest { VolumeIds = [volume.VolumeId] }, cancellationToken),
                $"read volume {volume.VolumeId}", volume.VolumeId).ConfigureAwait(false);
            volume = described.Volumes?.FirstOrDefault() ?? volume;
        }
        var result = new PgVolume
        {
            Provider = SnapshotProvider.Aws, VolumeId = volume.VolumeId, SnapshotId = snapshot.SnapshotId, Zone = volume.AvailabilityZone ?? zone,
            State = volume.State?.Value ?? "", BackupId = snapshot.BackupId, SizeGiB = volume.Size,
        };
        foreach (var (k, v) in tags) result.Tags[k] = v;
        return result;
    }

    private PgVolumeSnapshot ToSnapshot(Snapshot s)
    {
        var snapshot = new PgVolumeSnapshot
        {
            Provider = SnapshotProvider.Aws,
            SnapshotId = s.SnapshotId,
            VolumeId = s.VolumeId ?? "",
            State = s.State?.Value ?? "",
            Completed = s.State == SnapshotState.Completed,
            Failed = s.State == SnapshotState.Error,
            StartTime = s.StartTime is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : default,
            Progress = int.TryParse((s.Progress ?? "").TrimEnd('%'), NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) ? p : 0,
            Location = Location,
            Region = _region,
            Endpoint = _endpoint,
            VolumeSizeGiB = s.VolumeSize,
        };
        foreach (var tag in s.Tags ?? []) snapshot.Tags[tag.Key] = tag.Value;
        snapshot.BackupId = snapshot.Tags.GetValueOrDefault(SnapshotTags.BackupId);
        if (snapshot.Failed && !string.IsNullOrEmpty(s.StateMessage)) snapshot.State += ": " + s.StateMessage;
        return snapshot;
    }

    private async Task<T> CallAsync<T>(Func<Task<T>> call, string what, string? target)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (AmazonServiceException e)
        {
            throw Describe(e, what, target);
        }
        catch (Exception e) when (e is AmazonClientException or HttpRequestException or IOException)
        {
            throw new PgBackupException(FailureKind.ConnectionFailed, $"Could not {what} in {Location}: {e.Message}", target, e);
        }
    }

    private PgBackupException Describe(AmazonServiceException e, string what, string? target)
    {
        var kind = e.StatusCode switch
        {
            HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized => FailureKind.PermissionDenied,
            _ when e.ErrorCode is "UnauthorizedOperation" or "AuthFailure" => FailureKind.PermissionDenied,
            _ when e.ErrorCode?.EndsWith(".NotFound", StringComparison.Ordinal) == true => FailureKind.NotFound,
            _ => FailureKind.OperationFailed,
        };
        return new PgBackupException(kind, $"Could not {what} in {Location}: {e.ErrorCode}: {e.Message}", target, e);
    }
}
