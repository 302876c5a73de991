using System.Security.Cryptography;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// A repository's 256-bit master key, derived from its passphrase by <see cref="RepositoryEncryption"/>.
/// Files are never encrypted with it directly: each file gets its own key, HKDF(master, file salt).
/// The bytes live in a pinned array (so the GC never leaves copies behind) and are zeroed on
/// <see cref="Dispose"/>. An <see cref="EncryptingStream"/> derives its file key when it is created,
/// a <see cref="DecryptingStream"/> on its first read (the salt is in the header); after that,
/// disposing the master key does not disturb them.
/// </summary>
public sealed class EncryptionKey : IDisposable
{
    private readonly byte[] _master = GC.AllocateUninitializedArray<byte>(EncryptionFormat.KeySize, pinned: true);
    private readonly byte[] _keyId = new byte[EncryptionFormat.KeyIdSize];
    private readonly object _gate = new();
    private bool _disposed;

    internal EncryptionKey(ReadOnlySpan<byte> masterKey)
    {
        if (masterKey.Length != EncryptionFormat.KeySize)
            throw new ArgumentException($"A master key is {EncryptionFormat.KeySize} bytes.", nameof(masterKey));
        masterKey.CopyTo(_master);
        Span<byte> check = stackalloc byte[EncryptionFormat.KeyCheckSize];
        EncryptionFormat.DeriveKeyCheck(_master, check);
        check[..EncryptionFormat.KeyIdSize].CopyTo(_keyId);
        KeyId = EncryptionFormat.ToHex(_keyId);
    }

    /// <summary>
    /// A public, non-secret name of this key: the first 8 bytes of its key check, in hex. Every file
    /// encrypted with the key carries it in its header, so a file can be matched to its repository.
    /// </summary>
    public string KeyId { get; }

    internal ReadOnlySpan<byte> KeyIdBytes => _keyId;

    internal void DeriveFileKey(ReadOnlySpan<byte> fileSalt, Span<byte> fileKey)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            EncryptionFormat.DeriveFileKey(_master, fileSalt, fileKey);
        }
    }

    /// <summary>A key for another purpose (e.g. manifest authentication): HKDF-SHA256(master, salt empty, <paramref name="info"/>).</summary>
    internal void DeriveSubkey(ReadOnlySpan<byte> info, Span<byte> subkey)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, subkey, ReadOnlySpan<byte>.Empty, info);
        }
    }

    internal void ComputeKeyCheck(Span<byte> keyCheck)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            EncryptionFormat.DeriveKeyCheck(_master, keyCheck);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            CryptographicOperations.ZeroMemory(_master);
            _disposed = true;
        }
    }

    public override string ToString() => $"EncryptionKey {KeyId}";
}
