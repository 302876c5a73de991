using System.Globalization;

namespace PgBackupTools;

/// <summary>Durations as a report shows them: "45s", "5min", "1h 30min", "2d 1h" (the format views use it too).</summary>
public static class PgDuration
{
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero) return "-" + Format(-value);
        if (value < TimeSpan.FromMinutes(1))
            return value.TotalSeconds < 10 && value.TotalSeconds % 1 != 0
                ? value.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + "s"
                : ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";
        var parts = new List<string>();
        // Up to two days in hours, as objectives are written ("25h", not "1d 1h").
        int hours = value < TimeSpan.FromDays(2) ? (int)value.TotalHours : value.Hours;
        if (value.Days > 0 && value >= TimeSpan.FromDays(2)) parts.Add($"{value.Days}d");
        if (hours > 0) parts.Add($"{hours}h");
        if (value.Minutes > 0 && value < TimeSpan.FromDays(2)) parts.Add($"{value.Minutes}min");
        if (value.Seconds > 0 && value < TimeSpan.FromHours(1)) parts.Add($"{value.Seconds}s");
        return string.Join(' ', parts);
    }

    public static string Format(TimeSpan? value) => value is { } v ? Format(v) : "-";
}
