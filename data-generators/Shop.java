/*
 * The shop's rules: a view, then a cart, an uncart or a purchase of what is in the cart, a return of an unreturned
 * purchase; the action is drawn by event_type_weights and happens whenever some (customer, product) pair allows it,
 * else it becomes a view. Also the catalog (prices, stock) and the seeded random numbers.
 * Why here: e-store.java shows the command; this is the part a presenter changes to change the story.
 * Invariant: for a seed and a shard, the same sequence of events on every JDK (SplitMix64, no java.util.Random),
 * and every event is valid against the state before it (stock never below zero, no return without a purchase).
 */
final class Shop {
    static final String[] ACTIONS = {"view", "cart", "uncart", "purchase", "return"};
    static final int VIEW = 0, CART = 1, UNCART = 2, PURCHASE = 3, RETURN = 4;

    static int actionIndex(String a) {
        for (int i = 0; i < ACTIONS.length; i++) if (ACTIONS[i].equals(a)) return i;
        return -1;
    }

    final int products, shardIndex, shardCount, localCustomers;
    final Catalog catalog;
    final int[] stock, stockShare;
    final int restockThreshold;
    final long[] cumWeights = new long[5];
    final Rng rng;
    long restocks, fallbacks, outOfStock;

    // pair slots: an insert-only open-addressing map (customer * products + product) -> slot
    private long[] tableKey; // key + 1; 0 = empty
    private int[] tableSlot;
    private int mask;
    private int slots;
    private long[] slotKey = new long[1024];
    private byte[] flags = new byte[1024]; // 1 viewed, 2 in cart
    private int[] open = new int[1024]; // purchases not yet returned
    private int[] posCartable = new int[1024], posInCart = new int[1024], posReturnable = new int[1024];
    private final Pool cartable = new Pool(), inCart = new Pool(), returnable = new Pool();
    /** Dense mode (customers x products up to DENSE_MAX): the slot is the pair key itself, no hash map. */
    private final boolean dense;
    static final long DENSE_MAX = 1L << 23;

    Shop(EStoreSettings s, Catalog catalog, long seed, int shardIndex, int shardCount) {
        this.products = s.products;
        this.catalog = catalog;
        this.shardIndex = shardIndex;
        this.shardCount = shardCount;
        this.localCustomers = (s.customers - shardIndex + shardCount - 1) / shardCount;
        if (localCustomers <= 0) throw Cli.usage("--shard " + shardIndex + "/" + shardCount + ": no customers in this shard (num_customers " + s.customers + ")");
        this.restockThreshold = s.restockThreshold;
        this.rng = new Rng(Rng.mix(seed, 0x5EED0000L + shardIndex * 7919L + shardCount));
        stock = new int[products];
        stockShare = new int[products];
        for (int p = 0; p < products; p++) stock[p] = stockShare[p] = catalog.share(p, shardIndex, shardCount);
        double sum = 0;
        for (double w : s.weights) sum += w;
        double acc = 0;
        for (int i = 0; i < 5; i++) {
            acc += s.weights[i];
            cumWeights[i] = i == 4 ? Long.MAX_VALUE : (long) (acc / sum * 0x1p53);
        }
        long pairs = (long) s.customers * products;
        dense = pairs <= DENSE_MAX;
        if (dense) {
            int n = (int) pairs;
            slotKey = null;
            flags = new byte[n];
            open = new int[n];
            posCartable = new int[n];
            posInCart = new int[n];
            posReturnable = new int[n];
        } else {
            int cap = 1 << 12;
            tableKey = new long[cap];
            tableSlot = new int[cap];
            mask = cap - 1;
        }
    }

    private long keyOf(int slot) {
        return dense ? slot : slotKey[slot];
    }

    /** Picks an action by weight and a pair where it is valid; fills e. Returns the action emitted. */
    int next(EStoreEvent e) {
        long r = rng.next() >>> 11;
        int a = 0;
        while (r >= cumWeights[a]) a++;
        int slot;
        switch (a) {
            case CART -> {
                if (cartable.size > 0) {
                    slot = cartable.random(rng);
                    cartable.remove(slot, posCartable);
                    flags[slot] |= 2;
                    inCart.add(slot, posInCart);
                    return set(e, slot, CART);
                }
            }
            case UNCART -> {
                if (inCart.size > 0) {
                    slot = inCart.random(rng);
                    inCart.remove(slot, posInCart);
                    flags[slot] &= ~2;
                    cartable.add(slot, posCartable);
                    return set(e, slot, UNCART);
                }
            }
            case PURCHASE -> {
                for (int tries = 0; tries < 8 && inCart.size > 0; tries++) {
                    slot = inCart.random(rng);
                    int p = (int) (keyOf(slot) % products);
                    if (stock[p] <= 0) {
                        outOfStock++;
                        continue;
                    }
                    inCart.remove(slot, posInCart);
                    flags[slot] &= ~2;
                    cartable.add(slot, posCartable);
                    if (open[slot]++ == 0) returnable.add(slot, posReturnable);
                    if (--stock[p] <= restockThreshold && restockThreshold >= 0 && stock[p] < stockShare[p]) {
                        stock[p] = stockShare[p];
                        restocks++;
                    }
                    return set(e, slot, PURCHASE);
                }
            }
            case RETURN -> {
                if (returnable.size > 0) {
                    slot = returnable.random(rng);
                    if (--open[slot] == 0) returnable.remove(slot, posReturnable);
                    stock[(int) (keyOf(slot) % products)]++;
                    return set(e, slot, RETURN);
                }
            }
            default -> {
                // view: below
            }
        }
        if (a != VIEW) fallbacks++;
        int c = shardIndex + shardCount * rng.nextInt(localCustomers);
        int p = rng.nextInt(products);
        slot = slot((long) c * products + p);
        if ((flags[slot] & 1) == 0) {
            flags[slot] |= 1;
            cartable.add(slot, posCartable);
        }
        return set(e, slot, VIEW);
    }

    private int set(EStoreEvent e, int slot, int action) {
        long key = keyOf(slot);
        e.customer = (int) (key / products);
        e.product = (int) (key % products);
        e.action = action;
        e.priceCents = action == VIEW || action == UNCART ? -1 : catalog.priceCents()[e.product];
        return action;
    }

    private int slot(long key) {
        if (dense) {
            if (flags[(int) key] == 0 && open[(int) key] == 0) slots++;
            return (int) key;
        }
        long k = key + 1;
        int i = (int) (Rng.mix(key, 0) & mask);
        while (true) {
            long t = tableKey[i];
            if (t == k) return tableSlot[i];
            if (t == 0) break;
            i = (i + 1) & mask;
        }
        int s = slots++;
        if (s == slotKey.length) growSlots();
        slotKey[s] = key;
        tableKey[i] = k;
        tableSlot[i] = s;
        if (slots * 2 > tableKey.length) rehash();
        return s;
    }

    private void growSlots() {
        int n = slotKey.length * 2;
        slotKey = java.util.Arrays.copyOf(slotKey, n);
        flags = java.util.Arrays.copyOf(flags, n);
        open = java.util.Arrays.copyOf(open, n);
        posCartable = java.util.Arrays.copyOf(posCartable, n);
        posInCart = java.util.Arrays.copyOf(posInCart, n);
        posReturnable = java.util.Arrays.copyOf(posReturnable, n);
    }

    private void rehash() {
        int cap = tableKey.length * 2;
        long[] nk = new long[cap];
        int[] ns = new int[cap];
        int m = cap - 1;
        for (int s = 0; s < slots; s++) {
            long key = slotKey[s];
            int i = (int) (Rng.mix(key, 0) & m);
            while (nk[i] != 0) i = (i + 1) & m;
            nk[i] = key + 1;
            ns[i] = s;
        }
        tableKey = nk;
        tableSlot = ns;
        mask = m;
    }

    /** Distinct (customer, product) pairs seen so far (the model's memory grows with them). */
    int pairs() {
        return slots;
    }

    /** SplitMix64: tiny, fast, and the same stream on every JDK (the reproducibility of --seed depends on it). */
    static final class Rng {
        private long s;

        Rng(long seed) {
            s = seed;
        }

        long next() {
            long z = (s += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        /** Uniform in [0, bound). */
        int nextInt(int bound) {
            return (int) (((next() >>> 32) * bound) >>> 32);
        }

        static long mix(long a, long b) {
            long z = a * 0x9E3779B97F4A7C15L + b + 0x9E3779B97F4A7C15L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }

    static final String[] ADJECTIVES = {"Classic", "Compact", "Deluxe", "Eco", "Everyday", "Lightweight", "Premium",
        "Rugged", "Sleek", "Smart", "Sturdy", "Vintage", "Cozy", "Bold", "Soft", "Portable"};
    static final String[] MATERIALS = {"cotton", "leather", "steel", "bamboo", "wool", "ceramic", "oak", "linen",
        "aluminium", "glass", "canvas", "silk"};
    static final String[] NOUNS = {"backpack", "mug", "lamp", "t-shirt", "sneakers", "notebook", "watch", "blanket",
        "headphones", "water bottle", "jacket", "chair", "wallet", "scarf", "desk organizer", "umbrella", "speaker",
        "cutting board", "sunglasses", "plant pot"};

    /** The products: the same for a seed whatever the shard, so every shard sells the same catalog. */
    record Catalog(int[] priceCents, int[] initialStock, String[] description) {
        static Catalog of(long seed, int n) {
            Rng r = new Rng(Rng.mix(seed, 0xCA7A1067L));
            int[] price = new int[n], stock = new int[n];
            String[] desc = new String[n];
            for (int i = 0; i < n; i++) {
                price[i] = 1000 + r.nextInt(9001); // 10.00 .. 100.00, as the original
                stock[i] = 20 + r.nextInt(181); // 20 .. 200 on hand
                desc[i] = ADJECTIVES[r.nextInt(ADJECTIVES.length)] + " " + MATERIALS[r.nextInt(MATERIALS.length)] + " "
                        + NOUNS[r.nextInt(NOUNS.length)];
            }
            return new Catalog(price, stock, desc);
        }

        int size() {
            return priceCents.length;
        }

        /** This shard's share of a product's stock: the shares of all shards add up to the stock. */
        int share(int product, int shardIndex, int shardCount) {
            int s = initialStock[product];
            return s / shardCount + (shardIndex < s % shardCount ? 1 : 0);
        }
    }


    /** A set of slots with O(1) add, remove and uniform pick. */
    static final class Pool {
        int[] items = new int[1024];
        int size;

        void add(int slot, int[] pos) {
            if (size == items.length) items = java.util.Arrays.copyOf(items, size * 2);
            items[size] = slot;
            pos[slot] = size++;
        }

        void remove(int slot, int[] pos) {
            int i = pos[slot];
            int last = items[--size];
            items[i] = last;
            pos[last] = i;
        }

        int random(Rng r) {
            return items[r.nextInt(size)];
        }
    }
}
