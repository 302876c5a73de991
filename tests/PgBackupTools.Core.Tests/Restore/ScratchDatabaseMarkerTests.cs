using PgBackupTools.Core.Restore;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>The marker a scratch database carries, and the name rules that keep the clean-up to what is provably ours.</summary>
public sealed class ScratchDatabaseMarkerTests
{
    [Fact]
    public void A_marker_survives_its_round_trip_through_the_comment()
    {
        var marker = ScratchDatabaseMarker.ForThisProcess(ScratchDatabases.TestPurpose) with
        {
            Phase = ScratchDatabaseMarker.PlacingPhase, TargetDatabase = "app's \"db\"", ReplacedDatabase = "pgbt_replaced_0123456789ab",
        };
        var parsed = ScratchDatabaseMarker.TryParse(marker.ToJson());
        Assert.NotNull(parsed);
        Assert.Equal(Environment.ProcessId, parsed.ProcessId);
        Assert.Equal(Environment.MachineName, parsed.HostName);
        Assert.Equal(marker.ProcessStartTime, parsed.ProcessStartTime);
        Assert.Equal(marker.Created, parsed.Created);
        Assert.Equal("app's \"db\"", parsed.TargetDatabase);
        Assert.Equal(marker with { }, parsed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("nightly copy for the analysts")]
    [InlineData("{not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"tool":"SomethingElse","purpose":"restore","host":"h","pid":1,"processStart":"2026-01-01T00:00:00Z","created":"2026-01-01T00:00:00Z","phase":"restoring"}""")]
    [InlineData("""{"tool":"PgBackupTools","purpose":"restore","host":"h","processStart":"2026-01-01T00:00:00Z","created":"2026-01-01T00:00:00Z","phase":"restoring"}""")]
    [InlineData("""{"tool":"PgBackupTools","purpose":"restore","host":"h","pid":"1","processStart":"2026-01-01T00:00:00Z","created":"2026-01-01T00:00:00Z","phase":"restoring"}""")]
    [InlineData("""{"tool":"PgBackupTools","purpose":"restore","host":"h","pid":1,"processStart":"yesterday-ish","created":"2026-01-01T00:00:00Z","phase":"restoring"}""")]
    public void A_comment_that_is_not_exactly_our_marker_is_no_marker(string? comment) => Assert.Null(ScratchDatabaseMarker.TryParse(comment));

    [Theory]
    [InlineData("pgbt_restore_0123456789ab", true)]
    [InlineData("pgbt_test_abcdef012345", true)]
    [InlineData("pgbt_test_ABCDEF012345", false)]
    [InlineData("pgbt_test_abcdef0123456", false)]
    [InlineData("pgbt_test_abcdef01234", false)]
    [InlineData("xpgbt_test_abcdef012345", false)]
    [InlineData("pgbt_replaced_abcdef012345", false)]
    [InlineData("pgbt_restore_0123456789ab\n", false)]
    public void Only_exact_scratch_names_can_ever_be_dropped(string name, bool scratch) => Assert.Equal(scratch, ScratchDatabases.IsScratchName(name));

    [Fact]
    public void A_database_a_Force_restore_renamed_away_is_recognised_by_its_exact_name_only()
    {
        Assert.True(ScratchDatabases.IsReplacedName("pgbt_replaced_abcdef012345"));
        Assert.False(ScratchDatabases.IsReplacedName("pgbt_replaced_abcdef012345\n"));
        Assert.False(ScratchDatabases.IsReplacedName("pgbt_replaced_abcdef01234"));
    }

    [Fact]
    public void A_marker_of_another_host_is_kept_for_a_day_and_whatever_its_age_never_dropped_under_a_session()
    {
        var marker = new ScratchDatabaseMarker
        {
            Purpose = "restore", HostName = "some-other-host-" + Guid.NewGuid().ToString("N")[..6], ProcessId = 1,
            ProcessStartTime = DateTimeOffset.UtcNow.AddDays(-3), Created = DateTimeOffset.UtcNow.AddDays(-3),
        };
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(ScratchDatabaseState.Recent, ScratchDatabases.Classify("pgbt_restore_0123456789ab", "s", marker with { Created = now.AddHours(-23) }, null, 0, _ => true, now).State);
        Assert.Equal(ScratchDatabaseState.Abandoned, ScratchDatabases.Classify("pgbt_restore_0123456789ab", "s", marker, null, 0, _ => true, now).State);
        Assert.Equal(ScratchDatabaseState.Connected, ScratchDatabases.Classify("pgbt_restore_0123456789ab", "s", marker, null, 2, _ => true, now).State);
        Assert.Equal(ScratchDatabaseState.Unmarked, ScratchDatabases.Classify("pgbt_restore_0123456789ab", "s", null, null, 0, _ => true, now).State);
    }
}
