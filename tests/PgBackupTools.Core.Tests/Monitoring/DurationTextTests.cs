using PgBackupTools.Core.Monitoring;

namespace PgBackupTools.Core.Tests.Monitoring;

public sealed class DurationTextTests
{
    [Theory]
    [InlineData("5min", 300)]
    [InlineData("1h", 3600)]
    [InlineData("25h", 90000)]
    [InlineData("90s", 90)]
    [InlineData("1h30m", 5400)]
    [InlineData("1h 30min", 5400)]
    [InlineData("2d", 172800)]
    [InlineData("250ms", 0.25)]
    [InlineData("00:05:00", 300)]
    [InlineData("1.5h", 5400)]
    public void Parses_durations_as_operators_write_them(string text, double seconds)
    {
        Assert.True(DurationText.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("five minutes")]
    [InlineData("5 parsecs")]
    [InlineData("h")]
    public void Refuses_what_is_not_a_duration(string text) => Assert.False(DurationText.TryParse(text, out _));

    [Theory]
    [InlineData(300, "5min")]
    [InlineData(3600, "1h")]
    [InlineData(5400, "1h 30min")]
    [InlineData(45, "45s")]
    [InlineData(2.5, "2.5s")]
    [InlineData(90000, "25h")]
    [InlineData(190800, "2d 5h")]
    public void Formats_for_reports(double seconds, string expected) => Assert.Equal(expected, DurationText.Format(TimeSpan.FromSeconds(seconds)));
}
