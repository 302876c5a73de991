using System.Runtime.InteropServices;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// Who owns a file, who this process is, and which groups a user is in, on Linux, without running a program.
/// statx(2) rather than stat(2): struct statx has one layout on every architecture (stat's differs, and glibc only
/// exported stat itself from 2.33 on), so reading uid/gid at fixed offsets is safe. Elsewhere the answer is null.
/// </summary>
public static class UnixFileOwner
{
    /// <summary>The owner's uid and gid of <paramref name="path"/> (a link is followed), or null where it cannot be read or this is not Linux.</summary>
    public static (uint Uid, uint Gid)? Of(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        Span<byte> buffer = stackalloc byte[Native.StatxSize];
        try
        {
            if (Native.statx(Native.AtFdCwd, path, 0, Native.StatxUid | Native.StatxGid, ref MemoryMarshal.GetReference(buffer)) != 0) return null;
        }
        catch (EntryPointNotFoundException) { return null; } // glibc older than 2.28
        uint mask = MemoryMarshal.Read<uint>(buffer);
        if ((mask & (Native.StatxUid | Native.StatxGid)) != (Native.StatxUid | Native.StatxGid)) return null;
        return (MemoryMarshal.Read<uint>(buffer[Native.UidOffset..]), MemoryMarshal.Read<uint>(buffer[Native.GidOffset..]));
    }

    /// <summary>Whether this process runs as root (effective uid 0) on Linux/Unix.</summary>
    public static bool IsRoot => !OperatingSystem.IsWindows() && Native.geteuid() == 0;

    /// <summary>The user name of <paramref name="uid"/> (passwd, LDAP, whatever NSS says), or null when it has none.</summary>
    public static string? UserName(uint uid)
    {
        if (OperatingSystem.IsWindows()) return null;
        // pw_name is the first member of struct passwd on every Unix: the only field read.
        nint entry = Native.getpwuid(uid);
        return entry == 0 ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(entry));
    }

    /// <summary>Every group <paramref name="user"/> is in: <paramref name="primaryGid"/> and its supplementary groups.</summary>
    public static uint[] Groups(string user, uint primaryGid)
    {
        if (OperatingSystem.IsWindows()) return [primaryGid];
        int count = 64;
        while (true)
        {
            var groups = new uint[count];
            int n = count;
            if (Native.getgrouplist(user, primaryGid, groups, ref n) >= 0) return groups[..n];
            if (n <= count) return [primaryGid]; // not grown: the lookup itself failed
            count = n;
        }
    }

    private static class Native
    {
        public const int AtFdCwd = -100;
        public const uint StatxUid = 0x8, StatxGid = 0x10;
        public const int StatxSize = 256, UidOffset = 20, GidOffset = 24; // struct statx: mask, blksize, attributes(u64), nlink, uid, gid

        [DllImport("libc", SetLastError = true)]
        public static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);

        [DllImport("libc")] public static extern uint geteuid();
        [DllImport("libc")] public static extern nint getpwuid(uint uid);

        [DllImport("libc")]
        public static extern int getgrouplist([MarshalAs(UnmanagedType.LPUTF8Str)] string user, uint group, [Out] uint[] groups, ref int count);
    }
}
