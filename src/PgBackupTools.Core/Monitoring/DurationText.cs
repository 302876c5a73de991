using System.Globalization;
using System.Text.RegularExpressions;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// Durations as operators write them: "90s", "5min", "1h", "25h", "1h30m", "2d", or a TimeSpan ("00:05:00");
/// and back ("5min", "1h 30min") for reports.
/// </summary>
public static partial class DurationText
{
    [GeneratedRegex(@"^\s*(?:(?<n>\d+(?:\.\d+)?)\s*(?<u>ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\s*)+$", RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var match = Pattern().Match(text);
        if (match.Success)
        {
            double seconds = 0;
            for (int i = 0; i < match.Groups["n"].Captures.Count; i++)
            {
                double n = double.Parse(match.Groups["n"].Captures[i].Value, CultureInfo.InvariantCulture);
                string u = match.Groups["u"].Captures[i].Value.ToLowerInvariant();
                seconds += n * (u switch
                {
                    "ms" => 0.001,
                    _ when u.StartsWith('s') => 1,
                    _ when u.StartsWith('m') => 60,
                    _ when u.StartsWith('h') => 3600,
                    _ when u.StartsWith('d') => 86400,
                    _ => 7 * 86400,
                });
            }
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Short and exact enough for a report: "45s", "5min", "1h 30min", "2d 1h".</summary>
    public static string Format(TimeSpan value) => PgDuration.Format(value);
}
