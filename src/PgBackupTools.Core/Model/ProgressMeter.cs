using System.Diagnostics;

namespace PgBackupTools.Core;

/// <summary>Counts bytes and reports them at most four times a second, so progress never slows the data path.</summary>
internal sealed class ProgressMeter(OperationContext context, string activity, long? totalBytes)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastReportTicks = -1;
    public long Bytes { get; private set; }
    public string Status { get; set; } = "";
    /// <summary>What the whole work amounts to, once known (a percentage in Write-Progress).</summary>
    public long? TotalBytes { get; set; } = totalBytes;
    public TimeSpan Elapsed => _clock.Elapsed;

    public void Add(long bytes)
    {
        Bytes += bytes;
        long now = _clock.ElapsedTicks;
        if (_lastReportTicks < 0 || now - _lastReportTicks > Stopwatch.Frequency / 4)
        {
            _lastReportTicks = now;
            Report();
        }
    }

    public void Report() => context.Progress?.Report(new TransferProgress(activity, Status, Bytes, TotalBytes,
        _clock.Elapsed.TotalSeconds > 0 ? Bytes / _clock.Elapsed.TotalSeconds : 0));
}
