using System.Diagnostics;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>Runs the real command-line tools a user restores with (gzip, zstd, lz4) and captures their output.</summary>
internal static class Cli
{
    public static byte[] Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(stdout);
        if (!process.WaitForExit(120_000))
        {
            process.Kill();
            throw new TimeoutException($"{program} did not finish");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.Result}");
        return stdout.ToArray();
    }
}
