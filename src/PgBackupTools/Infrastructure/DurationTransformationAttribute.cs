using System.Management.Automation;
using PgBackupTools.Core.Monitoring;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// Lets a TimeSpan parameter take durations as operators write them ("5min", "1h", "25h", "90s", "1h30m") besides
/// a TimeSpan or "00:05:00"; a plain number is seconds (PowerShell would otherwise read it as ticks). Unquoted 30s and
/// 2d reach it as numbers (PowerShell's short and decimal literal suffixes) and mean 30 seconds and 2 days.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class DurationTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject ps ? ps.BaseObject : inputData;
        return value switch
        {
            TimeSpan span => span,
            // Unquoted, PowerShell reads 30s as a [short] (suffix s) and 2d as a [decimal] (suffix d): take them as written.
            short or ushort => TimeSpan.FromSeconds(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
            decimal d => TimeSpan.FromDays((double)d),
            sbyte or byte or int or uint or long or ulong or float or double => TimeSpan.FromSeconds(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
            string text when DurationText.TryParse(text, out var parsed) => parsed,
            string text => throw new ArgumentTransformationMetadataException(
                $"'{text}' is not a duration: write it as 90s, 5min, 1h, 25h, 1h30m, 2d, or 00:05:00."),
            _ => inputData,
        };
    }
}
