using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// The public encryption parameters of a repository, stored as the "encryption" object of
/// repository.json. Nothing here is secret: the salt and iteration count feed the KDF, and the key
/// check lets <see cref="Unlock"/> refuse a wrong passphrase before any data is touched.
/// <para>
/// master key = PBKDF2-HMAC-SHA256(passphrase, salt, iterations, 32 bytes);
/// key check  = HKDF-SHA256(ikm: master key, salt: empty, info: "pgbt key check v1", 32 bytes).
/// The key check is an HMAC output under a label no file key uses, so it reveals nothing about file
/// keys, and testing a guessed passphrase against it costs a full PBKDF2 run, as the KDF intends.
/// </para>
/// </summary>
public sealed class RepositoryEncryption
{
    public const string Aes256Gcm = "aes-256-gcm";
    public const string Pbkdf2Sha256 = "pbkdf2-sha256";

    /// <summary>The iteration count <see cref="Create"/> uses unless told otherwise (OWASP 2023 for PBKDF2-HMAC-SHA256).</summary>
    public const int DefaultIterations = 600_000;

    /// <summary><see cref="Create"/> refuses fewer iterations than this.</summary>
    public const int MinimumIterations = 600_000;

    /// <summary><see cref="Unlock"/> refuses more iterations than this, so a damaged file cannot stall it for hours.</summary>
    public const int MaximumIterations = 100_000_000;

    [JsonPropertyName("cipher")]
    public string Cipher { get; init; } = Aes256Gcm;

    [JsonPropertyName("kdf")]
    public string Kdf { get; init; } = Pbkdf2Sha256;

    [JsonPropertyName("iterations")]
    public int Iterations { get; init; }

    /// <summary>The PBKDF2 salt, base64.</summary>
    [JsonPropertyName("salt")]
    public string Salt { get; init; } = "";

    /// <summary>The key check, base64; its first 8 bytes are the key id every encrypted file carries.</summary>
    [JsonPropertyName("keyCheck")]
    public string KeyCheck { get; init; } = "";

    /// <summary>The key id (hex) of the key these parameters describe, as <see cref="EncryptionKey.KeyId"/> gives it.</summary>
    [JsonIgnore]
    public string KeyId
    {
        get
        {
            // A display property never throws: damaged parameters give "" here and fail in Unlock.
            Span<byte> check = stackalloc byte[EncryptionFormat.KeyCheckSize];
            return Convert.TryFromBase64String(KeyCheck ?? "", check, out int length) && length == EncryptionFormat.KeyCheckSize
                ? EncryptionFormat.ToHex(check[..EncryptionFormat.KeyIdSize])
                : "";
        }
    }

    /// <summary>
    /// Creates the parameters and master key of a new repository: a random 32-byte salt, the KDF
    /// run once, and the key check. Takes about as long as one <see cref="Unlock"/>.
    /// </summary>
    /// <param name="passphraseUtf8">The passphrase as UTF-8 bytes; the caller zeroes them afterwards.</param>
    /// <param name="iterations">PBKDF2 iterations, at least <see cref="MinimumIterations"/>.</param>
    public static (RepositoryEncryption Parameters, EncryptionKey Key) Create(ReadOnlySpan<byte> passphraseUtf8, int iterations = DefaultIterations)
    {
        if (iterations < MinimumIterations || iterations > MaximumIterations)
            throw new ArgumentOutOfRangeException(nameof(iterations), iterations,
                $"PBKDF2 iterations must be between {MinimumIterations:N0} and {MaximumIterations:N0}.");
        return CreateCore(passphraseUtf8, iterations);
    }

    /// <summary>For tests only: <see cref="Create"/> without the iteration floor, so tests stay fast.</summary>
    internal static (RepositoryEncryption Parameters, EncryptionKey Key) CreateForTests(ReadOnlySpan<byte> passphraseUtf8, int iterations) =>
        CreateCore(passphraseUtf8, iterations);

    private static (RepositoryEncryption, EncryptionKey) CreateCore(ReadOnlySpan<byte> passphraseUtf8, int iterations)
    {
        if (passphraseUtf8.IsEmpty)
            throw new ArgumentException("The passphrase is empty; an encrypted repository needs a passphrase.", nameof(passphraseUtf8));
        EncryptionFormat.EnsureAesGcmSupported();

        byte[] salt = RandomNumberGenerator.GetBytes(EncryptionFormat.KdfSaltSize);
        EncryptionKey key = DeriveKey(passphraseUtf8, salt, iterations);
        Span<byte> check = stackalloc byte[EncryptionFormat.KeyCheckSize];
        key.ComputeKeyCheck(check);
        var parameters = new RepositoryEncryption
        {
            Cipher = Aes256Gcm,
            Kdf = Pbkdf2Sha256,
            Iterations = iterations,
            Salt = Convert.ToBase64String(salt),
            KeyCheck = Convert.ToBase64String(check),
        };
        return (parameters, key);
    }

    /// <summary>
    /// Derives the master key from a passphrase and checks it against <see cref="KeyCheck"/>.
    /// Reads and writes nothing but memory.
    /// </summary>
    /// <exception cref="WrongPassphraseException">The passphrase does not match the key check.</exception>
    /// <exception cref="NotSupportedException">The cipher or KDF is not one this version supports.</exception>
    /// <exception cref="InvalidDataException">The parameters are damaged (bad base64, impossible values).</exception>
    public EncryptionKey Unlock(ReadOnlySpan<byte> passphraseUtf8) => Unlock(passphraseUtf8, passphraseSource: null);

    internal EncryptionKey Unlock(ReadOnlySpan<byte> passphraseUtf8, string? passphraseSource)
    {
        byte[] salt = Validate(out byte[] expectedCheck);
        if (passphraseUtf8.IsEmpty)
            throw new WrongPassphraseException(passphraseSource, empty: true);

        EncryptionKey key = DeriveKey(passphraseUtf8, salt, Iterations);
        Span<byte> check = stackalloc byte[EncryptionFormat.KeyCheckSize];
        key.ComputeKeyCheck(check);
        if (!CryptographicOperations.FixedTimeEquals(check, expectedCheck))
        {
            key.Dispose();
            throw new WrongPassphraseException(passphraseSource, empty: false);
        }
        return key;
    }

    /// <summary>Serializes to JSON through the source-generated context (Native AOT safe).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ReadableJson.RepositoryEncryption);

    // Base64 holds '+' and '/'; the default encoder would write '+' as \u002B. This is a file, not HTML.
    private static readonly EncryptionJsonContext ReadableJson = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Reads parameters serialized by <see cref="ToJson"/>; <see cref="Unlock"/> validates them.</summary>
    public static RepositoryEncryption FromJson(string json) =>
        JsonSerializer.Deserialize(json, EncryptionJsonContext.Default.RepositoryEncryption)
        ?? throw new InvalidDataException("The encryption parameters in repository.json are null.");

    private byte[] Validate(out byte[] keyCheck)
    {
        if (!string.Equals(Cipher, Aes256Gcm, StringComparison.Ordinal))
            throw new NotSupportedException(
                $"The repository uses cipher \"{Cipher}\", which this version of PgBackupTools does not support (it supports \"{Aes256Gcm}\").");
        if (!string.Equals(Kdf, Pbkdf2Sha256, StringComparison.Ordinal))
            throw new NotSupportedException(
                $"The repository uses key derivation \"{Kdf}\", which this version of PgBackupTools does not support (it supports \"{Pbkdf2Sha256}\").");
        if (Iterations < 1 || Iterations > MaximumIterations)
            throw new InvalidDataException(
                $"The encryption parameters in repository.json are damaged: {Iterations} iterations is outside 1..{MaximumIterations:N0}.");
        byte[] salt = DecodeBase64(Salt, "salt");
        if (salt.Length < EncryptionFormat.MinKdfSaltSize)
            throw new InvalidDataException(
                $"The encryption parameters in repository.json are damaged: the salt is {salt.Length} bytes, fewer than {EncryptionFormat.MinKdfSaltSize}.");
        keyCheck = DecodeBase64(KeyCheck, "keyCheck");
        if (keyCheck.Length != EncryptionFormat.KeyCheckSize)
            throw new InvalidDataException(
                $"The encryption parameters in repository.json are damaged: the key check is {keyCheck.Length} bytes, not {EncryptionFormat.KeyCheckSize}.");
        EncryptionFormat.EnsureAesGcmSupported();
        return salt;
    }

    private static EncryptionKey DeriveKey(ReadOnlySpan<byte> passphraseUtf8, byte[] salt, int iterations)
    {
        byte[] master = GC.AllocateUninitializedArray<byte>(EncryptionFormat.KeySize, pinned: true);
        try
        {
            Rfc2898DeriveBytes.Pbkdf2(passphraseUtf8, salt, master, iterations, HashAlgorithmName.SHA256);
            return new EncryptionKey(master);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(master);
        }
    }

    private static byte[] DecodeBase64(string? value, string field)
    {
        try
        {
            return Convert.FromBase64String(value ?? "");
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"The encryption parameters in repository.json are damaged: \"{field}\" is not base64.", e);
        }
    }
}
