using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;

namespace PgBackupTools.Core.Streams;

/// <summary>Linux pipes hold 64 KiB by default; F_SETPIPE_SZ grows one up to /proc/sys/fs/pipe-max-size (1 MiB by default).</summary>
internal static class PipeCapacity
{
    private const int F_SETPIPE_SZ = 1031;

    /// <summary>False where it cannot: not a pipe, not Linux, or refused (a lower pipe-max-size, the user's pipe quota).</summary>
    public static bool TryGrow(Stream stream, int bytes)
    {
        if (!OperatingSystem.IsLinux() || stream is not PipeStream pipe)
            return false;
        try
        {
            return Native.fcntl(pipe.SafePipeHandle, F_SETPIPE_SZ, bytes) >= bytes;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or ObjectDisposedException)
        {
            return false;
        }
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int fcntl(SafePipeHandle fd, int command, int argument);
    }
}
