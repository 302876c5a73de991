using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// fsync for what .NET does not sync itself: a directory, after a file in it was created, renamed or deleted (POSIX
/// makes the entry durable only then), and a file written through its handle with positional writes.
/// </summary>
internal static class FileSync
{
    /// <summary>Best effort: some file systems refuse fsync on a directory, and Windows has nothing to sync.</summary>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Native.open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { Native.fsync(fd); } finally { Native.close(fd); }
    }

    /// <summary>Throws when the data cannot be made durable (EIO, ENOSPC on delayed allocation): the file must not be trusted.</summary>
    public static void SyncFile(SafeFileHandle file, string path)
    {
        if (OperatingSystem.IsWindows()) { using var stream = new FileStream(file, FileAccess.Write, 0); stream.Flush(flushToDisk: true); return; }
        if (Native.fsync(file) != 0)
            throw new IOException($"fsync of {path} failed (errno {Marshal.GetLastPInvokeError()}): the data may not be on disk.");
    }

    /// <summary>fsync of a file written by path (File.WriteAllText and the like).</summary>
    public static void SyncFile(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        SyncFile(handle, path);
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)] public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int fsync(int fd);
        [DllImport("libc", SetLastError = true)] public static extern int fsync(SafeFileHandle fd);
        [DllImport("libc")] public static extern int close(int fd);
    }
}
