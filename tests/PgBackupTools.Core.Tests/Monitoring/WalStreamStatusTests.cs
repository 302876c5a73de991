using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;

namespace PgBackupTools.Core.Tests.Monitoring;

/// <summary>A WAL stream's flushed position (stream.json) is a recovery point of the status, and its lag is reported.</summary>
public sealed class WalStreamStatusTests : IDisposable
{
    private readonly TempDirectory _repoDir = new();

    public void Dispose() => _repoDir.Dispose();

    private static ServerWalPosition Server(string currentLsn, uint timeline, DateTimeOffset now) =>
        new("test:5432", "7000000000000000001", now, InRecovery: false, ArchivedCount: 0, LastArchivedWal: null, LastArchivedTime: null,
            FailedCount: 0, LastFailedWal: null, LastFailedTime: null, ArchiveMode: "on", CurrentLsn: currentLsn, Timeline: timeline, WalSegmentSize: 16 << 20);

    [Fact]
    public async Task The_streamed_position_is_the_newest_recovery_point_and_its_age_is_the_RPO_unless_the_server_has_nothing_newer()
    {
        var now = DateTimeOffset.UtcNow;
        using var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: true, default);
        var archive = new WalArchive(repo, "main");
        await new WalStreamState
        {
            FlushLsn = "0/3000100", Timeline = 1, Segment = "000000010000000000000003", SystemIdentifier = "7000000000000000001",
            Updated = now.AddSeconds(-30), ServerLsn = "0/3001100", Synchronous = true,
        }.WriteAsync(archive, default);

        // Without a server: the lag the stream last saw, and the point is as old as its last durable write.
        var alone = (await WalStatusReader.ReadAsync(archive, server: null, now, default))!;
        Assert.Equal("0/3000100", alone.StreamedLsn);
        Assert.Equal(0x1000, alone.StreamLagBytes);
        Assert.True(alone.StreamSynchronous);
        var point = Assert.Single(alone.RecoveryPoints);
        Assert.Equal(WalStatusReader.StreamSource, point.Source);
        Assert.Equal(TimeSpan.FromSeconds(30), point.Age);
        Assert.DoesNotContain(alone.Problems, p => p.Contains("no archived WAL segment"));

        // The server wrote more since: the lag is against its current position, the point stays 30 s old.
        var behind = (await WalStatusReader.ReadAsync(archive, Server("0/3002100", 1, now), now, default))!;
        Assert.Equal(0x2000, behind.StreamLagBytes);
        Assert.Equal(TimeSpan.FromSeconds(30), behind.NewestRecoveryPoint!.Age);

        // Nothing written past the streamed position: everything the server has is safe now.
        var caughtUp = (await WalStatusReader.ReadAsync(archive, Server("0/3000100", 1, now), now, default))!;
        Assert.Equal(0, caughtUp.StreamLagBytes);
        Assert.Equal(TimeSpan.Zero, caughtUp.NewestRecoveryPoint!.Age);

        // A server on another timeline (promoted elsewhere) does not count as caught up.
        var otherTimeline = (await WalStatusReader.ReadAsync(archive, Server("0/3000100", 2, now), now, default))!;
        Assert.Equal(TimeSpan.FromSeconds(30), otherTimeline.NewestRecoveryPoint!.Age);
    }
}
