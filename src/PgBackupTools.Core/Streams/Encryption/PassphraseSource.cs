using System.Runtime.InteropServices;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>Receives a passphrase's UTF-8 bytes; they are zeroed as soon as it returns.</summary>
public delegate T PassphraseAction<out T>(ReadOnlySpan<byte> passphraseUtf8);

/// <summary>
/// Where a repository passphrase comes from: a <see cref="SecureString"/>, an environment variable,
/// or a key file. The bytes are read only inside <see cref="Use{T}"/>, held in a pinned buffer and
/// zeroed afterwards. Errors name the variable or file (<see cref="Description"/>), never the value.
/// </summary>
public sealed class PassphraseSource
{
    /// <summary>A key file larger than this is refused: it is not a passphrase file.</summary>
    public const int MaxKeyFileSize = 64 * 1024;

    private readonly Func<byte[]> _read;

    private PassphraseSource(string description, Func<byte[]> read)
    {
        Description = description;
        _read = read;
    }

    /// <summary>Where the passphrase comes from, safe to show: "a SecureString", "environment variable X", "key file Y".</summary>
    public string Description { get; }

    /// <summary>The passphrase in a SecureString (PowerShell's Read-Host -AsSecureString, PSCredential.Password).</summary>
    public static PassphraseSource FromSecureString(SecureString passphrase)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        return new PassphraseSource("the SecureString given", () => ReadSecureString(passphrase));
    }

    /// <summary>The passphrase in an environment variable, read when it is used. Its value is taken whole (no trimming).</summary>
    public static PassphraseSource FromEnvironmentVariable(string variableName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(variableName);
        return new PassphraseSource($"environment variable {variableName}", () => ReadEnvironmentVariable(variableName));
    }

    /// <summary>
    /// The passphrase in a key file, read when it is used: its bytes, less one trailing newline
    /// ("\n" or "\r\n"). On Unix the file must not be accessible by group or others (like ssh keys).
    /// </summary>
    public static PassphraseSource FromKeyFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string fullPath = Path.GetFullPath(path);
        return new PassphraseSource($"key file {fullPath}", () => ReadKeyFile(fullPath));
    }

    /// <summary>Reads the passphrase, gives its bytes to <paramref name="action"/>, then zeroes them.</summary>
    public T Use<T>(PassphraseAction<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        byte[] bytes = _read();
        try
        {
            return action(bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Unlocks a repository's key; a wrong passphrase fails naming this source.</summary>
    /// <exception cref="WrongPassphraseException">The passphrase does not match the repository's key check.</exception>
    public EncryptionKey Unlock(RepositoryEncryption parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return Use(p => parameters.Unlock(p, Description));
    }

    /// <summary>Creates a new repository's encryption parameters and key from this passphrase.</summary>
    public (RepositoryEncryption Parameters, EncryptionKey Key) CreateRepositoryKey(int iterations = RepositoryEncryption.DefaultIterations) =>
        Use(p => RepositoryEncryption.Create(p, iterations));

    public override string ToString() => Description;

    private static byte[] ReadSecureString(SecureString secure)
    {
        int length = secure.Length;
        if (length == 0)
            throw new ArgumentException("The SecureString passphrase is empty.", nameof(secure));
        char[] chars = GC.AllocateUninitializedArray<char>(length, pinned: true);
        IntPtr unmanaged = IntPtr.Zero;
        try
        {
            unmanaged = Marshal.SecureStringToGlobalAllocUnicode(secure);
            Marshal.Copy(unmanaged, chars, 0, length);
            return EncodePinned(chars, "the SecureString given");
        }
        finally
        {
            if (unmanaged != IntPtr.Zero) Marshal.ZeroFreeGlobalAllocUnicode(unmanaged);
            Array.Clear(chars);
        }
    }

    private static byte[] ReadEnvironmentVariable(string name)
    {
        // A .NET string cannot be zeroed; it is the environment's own copy that we encode from.
        string? value = Environment.GetEnvironmentVariable(name);
        if (value is null)
            throw new InvalidOperationException($"The environment variable {name} that should hold the repository passphrase is not set.");
        if (value.Length == 0)
            throw new InvalidOperationException($"The environment variable {name} that should hold the repository passphrase is empty.");
        return EncodePinned(value.AsSpan(), $"environment variable {name}");
    }

    private static byte[] EncodePinned(ReadOnlySpan<char> chars, string source)
    {
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        int count;
        try
        {
            count = utf8.GetByteCount(chars);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException($"The passphrase from {source} is not valid Unicode text (it holds an unpaired surrogate).");
        }
        byte[] bytes = GC.AllocateUninitializedArray<byte>(count, pinned: true);
        utf8.GetBytes(chars, bytes);
        return bytes;
    }

    private static byte[] ReadKeyFile(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"The key file {path} does not exist.", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"The key file {path} cannot be read: access is denied.", e);
        }

        using (handle)
        {
            if (!OperatingSystem.IsWindows())
            {
                // Checked on the open handle, so the file cannot be swapped between check and read.
                UnixFileMode mode = File.GetUnixFileMode(handle);
                const UnixFileMode GroupOrOthers =
                    UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                    UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
                if ((mode & GroupOrOthers) != 0)
                    throw new UnauthorizedAccessException(
                        $"The key file {path} is accessible by group or others (mode {Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0')}), " +
                        $"so its passphrase may already be known to others; it is refused. Run 'chmod 600 {path}' so only its owner can read it.");
            }

            long length = RandomAccess.GetLength(handle);
            if (length > MaxKeyFileSize)
                throw new InvalidDataException($"The key file {path} is {length:N0} bytes; a key file holds one passphrase (at most {MaxKeyFileSize:N0} bytes).");

            byte[] buffer = GC.AllocateUninitializedArray<byte>((int)length, pinned: true);
            byte[]? result = null;
            try
            {
                int read = 0;
                while (read < buffer.Length)
                {
                    int n = RandomAccess.Read(handle, buffer.AsSpan(read), read);
                    if (n == 0) break;
                    read += n;
                }
                int end = read;
                if (end > 0 && buffer[end - 1] == (byte)'\n')
                {
                    end--;
                    if (end > 0 && buffer[end - 1] == (byte)'\r') end--;
                }
                if (end == 0)
                    throw new InvalidDataException($"The key file {path} is empty: it holds no passphrase.");
                if (end == buffer.Length)
                {
                    result = buffer;
                }
                else
                {
                    result = GC.AllocateUninitializedArray<byte>(end, pinned: true);
                    buffer.AsSpan(0, end).CopyTo(result);
                }
                return result;
            }
            finally
            {
                if (!ReferenceEquals(result, buffer)) CryptographicOperations.ZeroMemory(buffer);
            }
        }
    }
}
