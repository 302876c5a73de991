using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Opens a GZipStream at a zlib level 0..9. The core compiles against net8.0, whose API names only levels 0, 1, 6 and 9
/// (<see cref="CompressionLevel"/>); .NET 9+ runtimes (zlib-ng) take any level through ZLibCompressionOptions.
/// When the running runtime has it we use the exact level, otherwise the nearest named one.
/// </summary>
internal static class GzipLevel
{
    public const int Min = 0;
    public const int Max = 9;

    private static readonly Func<Stream, int, GZipStream>? ExactLevel = FindExactLevelConstructor();

    /// <summary>True when every level 0..9 is honoured exactly (net9.0+ runtime).</summary>
    public static bool IsExact => ExactLevel is not null;

    public static GZipStream OpenCompressor(Stream output, int level)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, Min);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, Max);
        if (ExactLevel is not null)
            return ExactLevel(output, level);
        var named = level switch
        {
            0 => CompressionLevel.NoCompression,
            <= 3 => CompressionLevel.Fastest,
            <= 7 => CompressionLevel.Optimal,
            _ => CompressionLevel.SmallestSize,
        };
        return new GZipStream(output, named, leaveOpen: true);
    }

    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Optional: if trimmed away we use the named levels.")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Optional: if trimmed away we use the named levels.")]
    private static Func<Stream, int, GZipStream>? FindExactLevelConstructor()
    {
        try
        {
            var optionsType = typeof(GZipStream).Assembly.GetType("System.IO.Compression.ZLibCompressionOptions");
            var levelProperty = optionsType?.GetProperty("CompressionLevel", BindingFlags.Public | BindingFlags.Instance);
            var newOptions = optionsType?.GetConstructor(Type.EmptyTypes);
            var constructor = optionsType is null ? null
                : typeof(GZipStream).GetConstructor([typeof(Stream), optionsType, typeof(bool)]);
            if (levelProperty is null || newOptions is null || constructor is null)
                return null;
            return (stream, level) =>
            {
                var options = newOptions.Invoke(null);
                levelProperty.SetValue(options, level);
                try
                {
                    return (GZipStream)constructor.Invoke([stream, options, true]);
                }
                catch (TargetInvocationException e) when (e.InnerException is not null)
                {
                    ExceptionDispatchInfo.Throw(e.InnerException);
                    throw;
                }
            };
        }
        catch (Exception)
        {
            return null;
        }
    }
}
